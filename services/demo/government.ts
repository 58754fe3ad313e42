import type {
  DimensionDeclarationInput,
  ModulePut,
  PolicyModuleInput,
  PrincipalCreate,
  Sociotechnician,
} from '../../schemas/registry.js';
import type { FeedPlan, Stream } from './telemetry.js';

/**
 * The demo government: a fictional city with five domains, twelve policy modules, eight
 * sociotechnicians and five agencies. Every module is marked `demo: true`; every person and agency
 * says it is fictional. Windows are short (1–5 min) and holds 30 s–1 min, so every status and alert
 * kind shows within a few minutes of `glasshouse start --demo`:
 *
 * | module                      | scripted behaviour                                                   |
 * | --------------------------- | -------------------------------------------------------------------- |
 * | bus-schedule-reform         | drifts off target: on-time rate slides from 93 % to 74 % over 5 min  |
 * | affordable-housing-pipeline | stagnates: flat at 62 % against a target of 85 %                     |
 * | building-permits            | constraint breach: upheld appeals jump from 3 % to 9 % after 1 min   |
 * | air-quality, waste-diversion| the environment agency goes silent after 90 s (data gap, then no data)|
 * | transit-signal-priority     | recovers: starts off target, reaches it after about 4 min            |
 * | ambulance-response          | hovers at risk: 95th percentile just above its target                |
 * | the rest                    | on track, with noise                                                 |
 */

const ms = { s: 1_000, m: 60_000 } as const;

/** A PUT body for a demo module. */
export type DemoModule = PolicyModuleInput & Pick<ModulePut, 'rationale'>;
type DemoGoal = PolicyModuleInput['goals'][number];
type DemoConstraint = NonNullable<PolicyModuleInput['constraints']>[number];

const fictional = 'Fictional profile from the Glasshouse demo government.';

export const sociotechnicians: Sociotechnician[] = [
  {
    id: 'ada-okafor',
    name: 'Ada Okafor',
    title: 'Director of Housing Delivery',
    bio: `${fictional} Former housing association chief executive; runs the city's rehousing and new-build programmes.`,
  },
  {
    id: 'samir-haddad',
    name: 'Samir Haddad',
    title: 'Housing First Programme Lead',
    bio: `${fictional} Social worker turned programme lead; piloting unconditional tenancies with wrap-around support.`,
  },
  {
    id: 'tomas-lindqvist',
    name: 'Tomás Lindqvist',
    title: 'Head of Bus Operations',
    bio: `${fictional} Twenty years in transit operations; owns timetables, depots and the schedule reform.`,
  },
  {
    id: 'grace-mwangi',
    name: 'Grace Mwangi',
    title: 'Street Design Lead',
    bio: `${fictional} Transport planner; delivers bus lanes and safer junctions corridor by corridor.`,
  },
  {
    id: 'kwame-mensah',
    name: 'Kwame Mensah',
    title: 'Chief Digital Officer',
    bio: `${fictional} Runs the city's digital services, from the permit portal to traffic-signal software.`,
  },
  {
    id: 'mei-chen',
    name: 'Mei Chen',
    title: 'Head of Planning and Permits',
    bio: `${fictional} Architect by training; accountable for building-permit decisions and their quality.`,
  },
  {
    id: 'rahul-desai',
    name: 'Dr Rahul Desai',
    title: 'Director of Public Health',
    bio: `${fictional} Epidemiologist; oversees emergency medical response and the vaccination programme.`,
  },
  {
    id: 'ingrid-solberg',
    name: 'Ingrid Solberg',
    title: 'Environmental Quality Officer',
    bio: `${fictional} Chemist; runs air-quality monitoring and the waste and recycling strategy.`,
  },
];

export interface DemoAgency extends PrincipalCreate {
  /** The modules this agency reports for (must match each module's `agencies`). */
  feed: FeedPlan;
}

const rationale = 'Seeded by the Glasshouse demo (fictional data).';

// Alternatives in one comparison group answer the same public question, so they share these rules.
const timeToHousing = {
  id: 'time-to-housing',
  metric: 'days_to_housing',
  unit: 'days',
  direction: 'decrease',
  target: 45,
  baseline: 90,
  tolerance: 0.1,
  window: '2m',
  aggregation: 'mean',
  minSamples: 20,
  hold: '30s',
} satisfies DemoGoal;

const tenancyRetention = {
  id: 'tenancy-retention',
  metric: 'tenancy_retained_pct',
  unit: '%',
  direction: 'increase',
  target: 85,
  baseline: 70,
  tolerance: 0.05,
  window: '5m',
  aggregation: 'mean',
  minSamples: 30,
  hold: '1m',
} satisfies DemoGoal;

const busOnTime = {
  id: 'on-time',
  metric: 'on_time_rate',
  unit: '%',
  direction: 'increase',
  target: 90,
  baseline: 78,
  tolerance: 0.05,
  window: '1m',
  aggregation: 'mean',
  minSamples: 20,
  hold: '30s',
} satisfies DemoGoal;

const costPerTrip = {
  id: 'cost-per-trip',
  metric: 'cost_per_trip',
  op: '<=',
  bound: 12,
  window: '2m',
  aggregation: 'mean',
} satisfies DemoConstraint;

// Declared dimensions of the demo's events: which value each report carries, and where it may be
// published. Districts, routes, permit types and stations describe places and services, not people.
const districtDimension = {
  name: 'district',
  description: 'City district the case or call came from',
  values: ['north', 'south', 'east', 'west'],
  publish: 'open',
} satisfies DimensionDeclarationInput;
const routeDimension = {
  name: 'route',
  description: 'Bus route number',
  values: ['4', '12', '31', '55', '73'],
  publish: 'open',
} satisfies DimensionDeclarationInput;
const permitTypeDimension = {
  name: 'permit_type',
  description: 'Kind of building permit applied for',
  values: ['residential', 'commercial', 'renovation'],
  publish: 'aggregate',
} satisfies DimensionDeclarationInput;
const stationDimension = {
  name: 'station',
  description: 'Air quality measuring station',
  values: ['harbour', 'old-town', 'ring-road'],
  publish: 'open',
} satisfies DimensionDeclarationInput;

export const modules: DemoModule[] = [
  {
    id: 'rapid-rehousing',
    domain: 'housing',
    title: 'Rapid rehousing',
    summary: 'Moves homeless households into private rented homes with a time-limited rent subsidy.',
    owner: 'ada-okafor',
    agencies: ['housing-authority'],
    comparisonGroup: 'homelessness-response',
    goals: [
      timeToHousing,
      {
        id: 'placements',
        metric: 'household_placements',
        unit: 'households',
        direction: 'increase',
        target: 24,
        tolerance: 0.25,
        window: '2m',
        aggregation: 'sum',
        minSamples: 100,
        hold: '1m',
      },
      tenancyRetention,
    ],
    dimensions: [districtDimension],
    rationale,
    demo: true,
  },
  {
    id: 'housing-first-pilot',
    domain: 'housing',
    title: 'Housing First pilot',
    summary:
      'Offers a permanent tenancy first, with intensive support, to people with long histories of homelessness.',
    owner: 'samir-haddad',
    agencies: ['housing-authority'],
    comparisonGroup: 'homelessness-response',
    goals: [timeToHousing, tenancyRetention],
    dimensions: [districtDimension],
    rationale,
    demo: true,
  },
  {
    id: 'affordable-housing-pipeline',
    domain: 'housing',
    title: 'Affordable housing pipeline',
    summary: 'Delivers new social and affordable homes on schedule and within the agreed cost per unit.',
    owner: 'ada-okafor',
    agencies: ['housing-authority'],
    goals: [
      {
        id: 'units-on-schedule',
        metric: 'units_on_schedule_pct',
        unit: '%',
        direction: 'increase',
        target: 85,
        baseline: 60,
        tolerance: 0.1,
        window: '1m',
        aggregation: 'mean',
        minSamples: 20,
        hold: '30s',
        stagnationHorizon: '3m',
      },
    ],
    constraints: [
      {
        id: 'cost-per-unit',
        metric: 'cost_per_unit',
        op: '<=',
        bound: 350_000,
        window: '5m',
        aggregation: 'mean',
      },
    ],
    rationale,
    demo: true,
  },
  {
    id: 'bus-schedule-reform',
    domain: 'transit',
    title: 'Bus schedule reform',
    summary: 'Rewrites timetables around measured running times so buses keep to schedule.',
    owner: 'tomas-lindqvist',
    agencies: ['city-transit'],
    comparisonGroup: 'punctuality-approaches',
    maxSilence: '1m',
    goals: [busOnTime],
    constraints: [costPerTrip],
    dimensions: [routeDimension],
    rationale,
    demo: true,
  },
  {
    id: 'bus-priority-lanes',
    domain: 'transit',
    title: 'Bus priority lanes',
    summary: 'Gives buses their own lanes on the busiest corridors.',
    owner: 'grace-mwangi',
    agencies: ['city-transit'],
    comparisonGroup: 'punctuality-approaches',
    maxSilence: '1m',
    goals: [
      busOnTime,
      {
        id: 'journey-time',
        metric: 'journey_minutes',
        unit: 'min',
        direction: 'decrease',
        target: 28,
        baseline: 34,
        tolerance: 0.05,
        window: '2m',
        aggregation: 'p50',
        minSamples: 30,
        hold: '1m',
      },
    ],
    constraints: [costPerTrip],
    dimensions: [routeDimension],
    rationale,
    demo: true,
  },
  {
    id: 'transit-signal-priority',
    domain: 'transit',
    title: 'Transit signal priority',
    summary: 'Traffic signals extend the green phase for late-running buses.',
    owner: 'kwame-mensah',
    agencies: ['city-transit'],
    comparisonGroup: 'punctuality-approaches',
    goals: [
      busOnTime,
      {
        id: 'equipped-junctions',
        metric: 'equipped_junctions',
        unit: 'junctions',
        direction: 'increase',
        target: 100,
        baseline: 60,
        tolerance: 0.1,
        window: '5m',
        aggregation: 'last',
        minSamples: 1,
        hold: '1m',
      },
    ],
    dimensions: [routeDimension],
    rationale,
    demo: true,
  },
  {
    id: 'building-permits',
    domain: 'permits',
    title: 'Building permit decisions',
    summary: 'Decides building-permit applications quickly without lowering the quality of decisions.',
    owner: 'mei-chen',
    agencies: ['permits-office'],
    goals: [
      {
        id: 'decision-time',
        metric: 'decision_days',
        unit: 'days',
        direction: 'decrease',
        target: 20,
        baseline: 34,
        tolerance: 0.1,
        window: '2m',
        aggregation: 'p50',
        minSamples: 20,
        hold: '30s',
      },
    ],
    constraints: [
      {
        id: 'appeals-upheld',
        metric: 'appeals_upheld_pct',
        op: '<=',
        bound: 5,
        window: '1m',
        aggregation: 'mean',
        minSamples: 10,
        hold: '0s',
      },
    ],
    dimensions: [permitTypeDimension],
    rationale,
    demo: true,
  },
  {
    id: 'online-permit-portal',
    domain: 'permits',
    title: 'Online permit portal',
    summary: 'Lets residents apply, pay and track permits online instead of at the counter.',
    owner: 'kwame-mensah',
    agencies: ['permits-office'],
    goals: [
      {
        id: 'digital-share',
        metric: 'online_applications_pct',
        unit: '%',
        direction: 'increase',
        target: 70,
        baseline: 40,
        tolerance: 0.05,
        window: '2m',
        aggregation: 'mean',
        minSamples: 20,
        hold: '1m',
      },
      {
        id: 'page-speed',
        metric: 'page_response_ms',
        unit: 'ms',
        direction: 'decrease',
        target: 800,
        tolerance: 0.1,
        window: '1m',
        aggregation: 'p95',
        minSamples: 30,
        hold: '30s',
      },
    ],
    rationale,
    demo: true,
  },
  {
    id: 'ambulance-response',
    domain: 'health',
    title: 'Ambulance response times',
    summary: 'Gets an ambulance to life-threatening calls fast, in every district.',
    owner: 'rahul-desai',
    agencies: ['health-department'],
    goals: [
      {
        id: 'response-p95',
        metric: 'response_minutes',
        unit: 'min',
        direction: 'decrease',
        target: 15,
        baseline: 19,
        tolerance: 0.1,
        window: '2m',
        aggregation: 'p95',
        minSamples: 30,
        hold: '30s',
      },
    ],
    constraints: [
      {
        id: 'crew-overtime',
        metric: 'overtime_hours_per_shift',
        op: '<=',
        bound: 2.5,
        window: '5m',
        aggregation: 'mean',
      },
    ],
    dimensions: [districtDimension],
    rationale,
    demo: true,
  },
  {
    id: 'vaccination-outreach',
    domain: 'health',
    title: 'Vaccination outreach',
    summary: 'Mobile clinics and reminders that raise childhood vaccination coverage.',
    owner: 'rahul-desai',
    agencies: ['health-department'],
    goals: [
      {
        id: 'coverage',
        metric: 'coverage_pct',
        unit: '%',
        direction: 'increase',
        target: 80,
        baseline: 65,
        tolerance: 0.05,
        window: '5m',
        aggregation: 'last',
        minSamples: 1,
        hold: '1m',
      },
      {
        id: 'no-shows',
        metric: 'no_show_pct',
        unit: '%',
        direction: 'decrease',
        target: 10,
        tolerance: 0.1,
        window: '2m',
        aggregation: 'mean',
        minSamples: 20,
        hold: '1m',
      },
    ],
    dimensions: [districtDimension],
    rationale,
    demo: true,
  },
  {
    id: 'air-quality',
    domain: 'environment',
    title: 'Clean air zone',
    summary: 'Cuts fine-particle pollution in the city centre by restricting the most polluting vehicles.',
    owner: 'ingrid-solberg',
    agencies: ['environment-agency'],
    maxSilence: '30s',
    goals: [
      {
        id: 'pm25',
        metric: 'pm25',
        unit: 'µg/m³',
        direction: 'decrease',
        target: 15,
        baseline: 22,
        tolerance: 0.1,
        window: '1m',
        aggregation: 'mean',
        minSamples: 20,
        hold: '30s',
      },
    ],
    constraints: [{ id: 'no2-limit', metric: 'no2', op: '<=', bound: 40, window: '1m', aggregation: 'max' }],
    dimensions: [stationDimension],
    rationale,
    demo: true,
  },
  {
    id: 'waste-diversion',
    domain: 'environment',
    title: 'Waste diversion',
    summary: 'Diverts household waste from landfill through separate food and recycling collections.',
    owner: 'ingrid-solberg',
    agencies: ['environment-agency'],
    maxSilence: '45s',
    goals: [
      {
        id: 'diversion',
        metric: 'diversion_pct',
        unit: '%',
        direction: 'increase',
        target: 55,
        baseline: 38,
        tolerance: 0.1,
        window: '5m',
        aggregation: 'mean',
        minSamples: 20,
        hold: '1m',
      },
    ],
    constraints: [
      {
        id: 'contamination',
        metric: 'contamination_pct',
        op: '<=',
        bound: 12,
        window: '5m',
        aggregation: 'mean',
      },
    ],
    rationale,
    demo: true,
  },
];

const flat = (
  level: number,
  noise: Stream['signal']['noise'],
  extra: Partial<Stream['signal']> = {},
): Stream['signal'] => ({
  points: [[0, level]],
  noise,
  ...extra,
});
const pct = { min: 0, max: 100 };
const districts = districtDimension;
const routes = routeDimension;

export const agencies: DemoAgency[] = [
  {
    id: 'housing-authority',
    name: 'City Housing Authority (demo)',
    feed: {
      agency: 'housing-authority',
      streams: [
        {
          moduleId: 'rapid-rehousing',
          metric: 'days_to_housing',
          signal: flat(40, 4, { min: 1 }),
          dimension: districts,
        },
        { moduleId: 'rapid-rehousing', metric: 'household_placements', signal: flat(0.25, 'poisson') },
        // Just under its target: a steady "at risk".
        { moduleId: 'rapid-rehousing', metric: 'tenancy_retained_pct', signal: flat(84, 2, pct) },
        {
          moduleId: 'housing-first-pilot',
          metric: 'days_to_housing',
          signal: flat(32, 5, { min: 1 }),
          dimension: districts,
        },
        { moduleId: 'housing-first-pilot', metric: 'tenancy_retained_pct', signal: flat(88, 2, pct) },
        // Stagnation: flat, well below the 85 % target, with little noise so its trend is clearly flat.
        {
          moduleId: 'affordable-housing-pipeline',
          metric: 'units_on_schedule_pct',
          signal: flat(62, 1.5, pct),
        },
        {
          moduleId: 'affordable-housing-pipeline',
          metric: 'cost_per_unit',
          signal: flat(310_000, 15_000, { decimals: 0 }),
        },
      ],
    },
  },
  {
    id: 'city-transit',
    name: 'City Transit (demo)',
    feed: {
      agency: 'city-transit',
      streams: [
        // Drift: on target for 30 s, then slides to 74 % over five minutes and stays there.
        {
          moduleId: 'bus-schedule-reform',
          metric: 'on_time_rate',
          signal: {
            points: [
              [0, 93],
              [30 * ms.s, 93],
              [5.5 * ms.m, 74],
            ],
            noise: 2,
            ...pct,
          },
          dimension: routes,
        },
        { moduleId: 'bus-schedule-reform', metric: 'cost_per_trip', signal: flat(10.5, 0.6, { min: 0 }) },
        {
          moduleId: 'bus-priority-lanes',
          metric: 'on_time_rate',
          signal: flat(92, 1.5, pct),
          dimension: routes,
        },
        {
          moduleId: 'bus-priority-lanes',
          metric: 'journey_minutes',
          signal: flat(26, 2, { min: 5 }),
          dimension: routes,
        },
        { moduleId: 'bus-priority-lanes', metric: 'cost_per_trip', signal: flat(11.2, 0.5, { min: 0 }) },
        // Recovery: off target for the first minute, then climbs to 93 % by minute four.
        {
          moduleId: 'transit-signal-priority',
          metric: 'on_time_rate',
          signal: {
            points: [
              [0, 79],
              [1 * ms.m, 79],
              [4 * ms.m, 93],
            ],
            noise: 1.5,
            ...pct,
          },
          dimension: routes,
        },
        {
          moduleId: 'transit-signal-priority',
          metric: 'equipped_junctions',
          signal: {
            points: [
              [0, 94],
              [5 * ms.m, 110],
            ],
            noise: 0,
            decimals: 0,
          },
        },
      ],
    },
  },
  {
    id: 'permits-office',
    name: 'Planning and Permits Office (demo)',
    feed: {
      agency: 'permits-office',
      streams: [
        {
          moduleId: 'building-permits',
          metric: 'decision_days',
          signal: flat(17, 4, { min: 1, decimals: 0 }),
          dimension: permitTypeDimension,
        },
        // Constraint breach: upheld appeals jump from 3 % to 9 % after one minute.
        {
          moduleId: 'building-permits',
          metric: 'appeals_upheld_pct',
          signal: {
            points: [
              [0, 3],
              [1 * ms.m, 3],
              [65 * ms.s, 9],
            ],
            noise: 0.8,
            ...pct,
          },
        },
        { moduleId: 'online-permit-portal', metric: 'online_applications_pct', signal: flat(74, 3, pct) },
        {
          moduleId: 'online-permit-portal',
          metric: 'page_response_ms',
          signal: flat(450, 120, { min: 80, decimals: 0 }),
        },
      ],
    },
  },
  {
    id: 'health-department',
    name: 'Public Health Department (demo)',
    feed: {
      agency: 'health-department',
      streams: [
        // Its 95th percentile sits just above the 15-minute target: "at risk", never quite failing.
        {
          moduleId: 'ambulance-response',
          metric: 'response_minutes',
          signal: flat(10.5, 3, { min: 2 }),
          dimension: districts,
        },
        {
          moduleId: 'ambulance-response',
          metric: 'overtime_hours_per_shift',
          signal: flat(1.6, 0.4, { min: 0 }),
        },
        {
          moduleId: 'vaccination-outreach',
          metric: 'coverage_pct',
          signal: {
            points: [
              [0, 81],
              [10 * ms.m, 83],
            ],
            noise: 0.1,
            decimals: 1,
            ...pct,
          },
        },
        {
          moduleId: 'vaccination-outreach',
          metric: 'no_show_pct',
          signal: flat(7, 2, pct),
          dimension: districts,
        },
      ],
    },
  },
  {
    id: 'environment-agency',
    name: 'Environment Agency (demo)',
    feed: {
      agency: 'environment-agency',
      // Its uplink "fails" after 90 s: both modules raise data_gap, then show no data.
      silentAfterMs: 90 * ms.s,
      streams: [
        {
          moduleId: 'air-quality',
          metric: 'pm25',
          signal: flat(11, 2.5, { min: 0 }),
          dimension: stationDimension,
        },
        { moduleId: 'air-quality', metric: 'no2', signal: flat(24, 4, { min: 0 }) },
        { moduleId: 'waste-diversion', metric: 'diversion_pct', signal: flat(57, 3, pct) },
        { moduleId: 'waste-diversion', metric: 'contamination_pct', signal: flat(8, 1.5, pct) },
      ],
    },
  },
];

/** The domains the demo government covers. */
export const domains = [...new Set(modules.map((m) => m.domain))];
