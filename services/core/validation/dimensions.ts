import type { DimensionDeclaration, ModuleVersion } from '../../../schemas/registry.js';

/** A module's declarations, ready to check values against. */
interface CompiledDeclaration {
  declaration: DimensionDeclaration;
  values: ReadonlySet<string> | undefined;
  pattern: RegExp | undefined;
}

type Compiled = ReadonlyMap<string, CompiledDeclaration>;

// A module version is immutable, so its declarations are compiled once per version object.
const compiled = new WeakMap<object, Compiled>();

function compile(module: Pick<ModuleVersion, 'dimensions'>): Compiled {
  let map = compiled.get(module);
  if (!map) {
    map = new Map(
      (module.dimensions ?? []).map((declaration) => [
        declaration.name,
        {
          declaration,
          values: declaration.values ? new Set(declaration.values) : undefined,
          // Anchored: the value must match whole, not contain a match.
          pattern:
            declaration.pattern === undefined ? undefined : new RegExp(`^(?:${declaration.pattern})$`, 'u'),
        },
      ]),
    );
    compiled.set(module, map);
  }
  return map;
}

export type DimensionCheck =
  | { ok: true; dimensions: Record<string, string> | undefined }
  | {
      ok: false;
      reason: 'undeclared_dimension' | 'dimension_value_not_allowed';
      path: string;
      message: string;
    };

/**
 * Checks an event's dimensions against its module's declarations: every name declared, every
 * value in the declared list and matching the declared pattern. On success, returns the dimensions
 * to store: those declared `never` dropped (undefined when none is left). Pure.
 */
export function checkDimensions(
  dimensions: Readonly<Record<string, string>> | undefined,
  module: Pick<ModuleVersion, 'id' | 'dimensions'>,
): DimensionCheck {
  if (dimensions === undefined) return { ok: true, dimensions: undefined };
  const declared = compile(module);
  const kept: Record<string, string> = {};
  let dropped = false;
  for (const [name, value] of Object.entries(dimensions)) {
    const d = declared.get(name);
    if (!d) {
      return {
        ok: false,
        reason: 'undeclared_dimension',
        path: `dimensions.${name}`,
        message:
          declared.size === 0
            ? `module "${module.id}" declares no dimensions`
            : `module "${module.id}" declares no dimension "${name}" (it declares ${[...declared.keys()].map((n) => `"${n}"`).join(', ')})`,
      };
    }
    if (d.values && !d.values.has(value)) {
      return {
        ok: false,
        reason: 'dimension_value_not_allowed',
        path: `dimensions.${name}`,
        message: `"${name}" must be one of the values module "${module.id}" declares${d.values.size <= 20 ? ` (${[...d.values].map((v) => JSON.stringify(v)).join(', ')})` : ''}`,
      };
    }
    if (d.pattern && !d.pattern.test(value)) {
      return {
        ok: false,
        reason: 'dimension_value_not_allowed',
        path: `dimensions.${name}`,
        message: `"${name}" must match the pattern module "${module.id}" declares (${d.declaration.pattern})`,
      };
    }
    if (d.declaration.publish === 'never') dropped = true;
    else kept[name] = value;
  }
  if (!dropped) return { ok: true, dimensions: dimensions as Record<string, string> };
  return { ok: true, dimensions: Object.keys(kept).length > 0 ? kept : undefined };
}

/**
 * The dimensions of a stored event that may be published in raw form: those the module declares
 * `open` now. Anything else (declared `aggregate` or `never`, or not declared, as on events stored
 * before a declaration changed) is left out.
 */
export function openDimensions(
  dimensions: Readonly<Record<string, unknown>>,
  module: Pick<ModuleVersion, 'dimensions'>,
): Record<string, string> {
  const declared = compile(module);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(dimensions)) {
    if (typeof value === 'string' && declared.get(name)?.declaration.publish === 'open') out[name] = value;
  }
  return out;
}

/** The declaration of `name`, when the module declares it. */
export function dimensionDeclaration(
  module: Pick<ModuleVersion, 'dimensions'>,
  name: string,
): DimensionDeclaration | undefined {
  return compile(module).get(name)?.declaration;
}
