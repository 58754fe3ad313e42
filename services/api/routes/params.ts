import { Slug } from '../../../schemas/common.js';
import { ValidationError } from '../../runtime/errors.js';

/** A path parameter that must be a slug, or a 400 naming it. */
export function slugParam(value: string, name: string): string {
  const parsed = Slug.safeParse(value);
  if (!parsed.success)
    throw new ValidationError(`the ${name} is not valid`, [
      { path: name, message: parsed.error.issues[0]!.message },
    ]);
  return parsed.data;
}
