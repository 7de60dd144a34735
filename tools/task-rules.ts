/**
 * The rules of Microsoft's task manifest schema (tasks.schema.json in microsoft/azure-pipelines-task-lib,
 * JSON Schema draft-04), written out as code because the schema is not on npm, plus the few rules the
 * schema cannot express but tfx, the agent or the task editor enforce. `checkTaskManifest` returns every
 * violation as one line; an empty list means the manifest is fine.
 *
 * From the schema: the allowed properties (it sets additionalProperties: false at every level except
 * handlers and input options), the id/name/input-name/output-variable-name patterns, the enums of
 * category, runsOn, visibility and input types (plus `connectedService:<type>`), the shapes of version,
 * groups, inputs, outputVariables, handlers, restrictions, dataSourceBindings and sourceDefinitions.
 * The schema's handler list predates Node20_1 (added by task-lib PR #1075) and Node24 (agent 4.265.1+);
 * both are accepted here, as the agent and tfx accept them.
 *
 * Beyond the schema: the properties tfx and the service need (id, name, friendlyName, description, author,
 * category, version, instanceNameFormat, execution), friendlyName at most 40 characters (tfx), groupName
 * and visibleRule naming things that exist, unique input names and aliases (both become INPUT_<NAME>),
 * unique output variables, at least one handler that is not end-of-life per section (tfx warns otherwise),
 * every handler of a section running the same file, and minimumAgentVersion high enough for the lowest
 * handler an agent could pick.
 */

type Json = Record<string, unknown>;

export const TOP_LEVEL_PROPERTIES = [
  '$schema',
  'id',
  'name',
  'friendlyName',
  'description',
  'helpUrl',
  'helpMarkDown',
  'author',
  'preview',
  'deprecated',
  'removalDate',
  'showEnvironmentVariables',
  'runsOn',
  'visibility',
  'category',
  'groups',
  'demands',
  'minimumAgentVersion',
  'version',
  'instanceNameFormat',
  'releaseNotes',
  'inputs',
  'dataSourceBindings',
  'sourceDefinitions',
  'prejobexecution',
  'execution',
  'postjobexecution',
  'messages',
  'outputVariables',
  'restrictions',
] as const;

export const REQUIRED_PROPERTIES = [
  'id',
  'name',
  'friendlyName',
  'description',
  'author',
  'category',
  'version',
  'instanceNameFormat',
  'execution',
] as const;

export const CATEGORIES = [
  'Build',
  'Utility',
  'Test',
  'Package',
  'Deploy',
  'Azure Repos',
  'Azure Boards',
  'Azure Pipelines',
  'Azure Test Plans',
  'Azure Artifacts',
];
export const RUNS_ON = ['Agent', 'MachineGroup', 'Server', 'ServerGate', 'DeploymentGroup'];
export const VISIBILITY = ['Build', 'Release'];
export const INPUT_TYPES = [
  'boolean',
  'filePath',
  'multiLine',
  'pickList',
  'radio',
  'secureFile',
  'string',
  'int',
  'identities',
  'querycontrol',
];
const INPUT_PROPERTIES = [
  'name',
  'aliases',
  'label',
  'type',
  'defaultValue',
  'required',
  'helpMarkDown',
  'groupName',
  'visibleRule',
  'properties',
  'options',
];
/** Input `properties` whose values the schema restricts to the strings "True"/"False" (or "true"/"false"). */
const INPUT_FLAG_PROPERTIES: Record<string, string[]> = {
  EditableOptions: ['True', 'False'],
  MultiSelect: ['True', 'False'],
  MultiSelectFlatList: ['True', 'False'],
  DisableManageLink: ['True', 'False'],
  IsSearchable: ['True', 'False'],
  PopulateDefaultValue: ['True', 'False'],
  isVariableOrNonNegativeNumber: ['true', 'false'],
};
const GROUP_PROPERTIES = ['name', 'displayName', 'isExpanded', 'visibleRule'];
const OUTPUT_VARIABLE_PROPERTIES = ['name', 'description'];
const DATA_SOURCE_BINDING_PROPERTIES = [
  'target',
  'endpointId',
  'dataSourceName',
  'parameters',
  'resultTemplate',
  'endpointUrl',
  'resultSelector',
  'RequestVerb',
  'requestContent',
  'callbackContextTemplate',
  'callbackRequiredTemplate',
  'initialContextTemplate',
];
const REQUEST_VERBS = ['GET', 'POST', 'DELETE', 'OPTIONS', 'HEAD', 'PUT', 'TRACE', 'PATCH'];
const SOURCE_DEFINITION_PROPERTIES = ['target', 'endpoint', 'selector', 'keySelector', 'authKey'];

export const EXECUTION_SECTIONS = ['prejobexecution', 'execution', 'postjobexecution'] as const;

export interface HandlerInfo {
  /** The lowest agent version that runs this handler, where known. */
  minimumAgentVersion?: string;
  /** tfx warns about tasks that only have end-of-life handlers. */
  endOfLife?: boolean;
}

/** The handlers the schema (plus Node20_1 and Node24) allows in each execution section. */
export const HANDLERS: Record<string, HandlerInfo> = {
  Node24: { minimumAgentVersion: '4.265.1' },
  Node20_1: { minimumAgentVersion: '4.248.0' },
  Node16: { endOfLife: true },
  Node10: { endOfLife: true },
  Node: { endOfLife: true },
  PowerShell3: {},
  PowerShell: {},
};

const GUID = /^[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$/;
const TASK_NAME = /^[A-Za-z0-9-]+$/;
const INPUT_NAME = /^[A-Za-z][A-Za-z0-9]*$/;
const OUTPUT_VARIABLE_NAME = /^[A-Za-z][A-Za-z0-9]*$/;
const AGENT_VERSION = /^\d+\.\d+(\.\d+)?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const CONNECTED_SERVICE = /^connectedService:.+$/;
const MAX_FRIENDLY_NAME = 40;

/** The comparison operators of visibleRule clauses, as the task editor evaluates them. */
export const VISIBLE_RULE_OPERATORS = [
  '==',
  '!=',
  '<=',
  '>=',
  '=',
  '<',
  '>',
  'NotContains',
  'NotEndsWith',
  'NotStartsWith',
  'Contains',
  'EndsWith',
  'StartsWith',
];

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function quote(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i += 1) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

class Checker {
  readonly violations: string[] = [];

  add(path: string, problem: string): void {
    this.violations.push(`${path}: ${problem}`);
  }

  unknownProperties(value: Json, allowed: readonly string[], path: string): void {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.add(path ? `${path}.${key}` : key, 'unknown property');
    }
  }

  required(value: Json, keys: readonly string[], path: string): void {
    for (const key of keys) {
      if (value[key] === undefined) this.add(path ? `${path}.${key}` : key, 'required property is missing');
    }
  }

  string(value: unknown, path: string): value is string {
    if (value === undefined) return false;
    if (typeof value !== 'string') {
      this.add(path, 'must be a string');
      return false;
    }
    return true;
  }

  boolean(value: unknown, path: string): void {
    if (value !== undefined && typeof value !== 'boolean') this.add(path, 'must be a boolean');
  }

  array(value: unknown, path: string): value is unknown[] {
    if (value === undefined) return false;
    if (!Array.isArray(value)) {
      this.add(path, 'must be an array');
      return false;
    }
    return true;
  }

  object(value: unknown, path: string): value is Json {
    if (value === undefined) return false;
    if (!isObject(value)) {
      this.add(path, 'must be an object');
      return false;
    }
    return true;
  }

  stringArray(value: unknown, path: string): string[] {
    if (!this.array(value, path)) return [];
    const strings: string[] = [];
    value.forEach((item, i) => {
      if (this.string(item, `${path}[${i}]`)) strings.push(item);
    });
    return strings;
  }

  enumArray(value: unknown, allowed: string[], path: string): void {
    this.stringArray(value, path).forEach((item, i) => {
      if (!allowed.includes(item))
        this.add(`${path}[${i}]`, `${quote(item)} is not one of ${allowed.join(', ')}`);
    });
  }
}

/** Checks a visibleRule such as `a = b && c != ""` against the names it may refer to. */
export function visibleRuleProblems(rule: string, inputNames: readonly string[]): string[] {
  const problems: string[] = [];
  if (rule.trim() === '') return ['is empty'];
  const symbolic = /^\s*([A-Za-z][A-Za-z0-9_.]*)\s*(==|!=|<=|>=|=|<|>)\s*(.*?)\s*$/;
  const worded =
    /^\s*([A-Za-z][A-Za-z0-9_.]*)\s+(NotContains|NotEndsWith|NotStartsWith|Contains|EndsWith|StartsWith)\s+(.*?)\s*$/;
  for (const clause of rule.split(/&&|\|\|/)) {
    const match = worded.exec(clause) ?? symbolic.exec(clause);
    if (!match) {
      problems.push(
        `clause ${quote(clause.trim())} is not '<input> <operator> <value>' (operators: ${VISIBLE_RULE_OPERATORS.join(' ')})`,
      );
      continue;
    }
    const [, name, , value] = match;
    if (!inputNames.includes(name))
      problems.push(`clause ${quote(clause.trim())} refers to ${quote(name)}, which is not an input`);
    if (value === '')
      problems.push(`clause ${quote(clause.trim())} has no value (write "" for the empty string)`);
  }
  return problems;
}

function checkVersion(c: Checker, version: unknown): void {
  if (!c.object(version, 'version')) return;
  c.unknownProperties(version, ['Major', 'Minor', 'Patch'], 'version');
  c.required(version, ['Major', 'Minor', 'Patch'], 'version');
  for (const key of ['Major', 'Minor', 'Patch']) {
    const part = version[key];
    if (part === undefined) continue;
    if (typeof part !== 'number') c.add(`version.${key}`, 'must be a number');
    else if (!Number.isInteger(part) || part < 0) c.add(`version.${key}`, 'must be a non-negative integer');
  }
}

function checkGroups(c: Checker, groups: unknown): string[] {
  const names: string[] = [];
  if (!c.array(groups, 'groups')) return names;
  groups.forEach((group, i) => {
    const path = `groups[${i}]`;
    if (!c.object(group, path)) return;
    c.unknownProperties(group, GROUP_PROPERTIES, path);
    c.required(group, ['name', 'displayName'], path);
    if (c.string(group.name, `${path}.name`)) {
      if (names.includes(group.name)) c.add(`${path}.name`, `duplicate group name ${quote(group.name)}`);
      names.push(group.name);
    }
    c.string(group.displayName, `${path}.displayName`);
    c.boolean(group.isExpanded, `${path}.isExpanded`);
  });
  return names;
}

function inputNamesOf(inputs: unknown): string[] {
  return Array.isArray(inputs)
    ? inputs.filter(isObject).flatMap((input) => (typeof input.name === 'string' ? [input.name] : []))
    : [];
}

function checkInputs(c: Checker, inputs: unknown, groupNames: string[]): void {
  if (!c.array(inputs, 'inputs')) return;
  const names = inputNamesOf(inputs);
  /** Input names and aliases, upper-cased as the agent's INPUT_<NAME> variables are. */
  const taken = new Map<string, string>();
  const claim = (name: string, path: string) => {
    const key = name.toUpperCase();
    const owner = taken.get(key);
    if (owner !== undefined)
      c.add(
        path,
        `${quote(name)} is already used by ${owner} (input names and aliases are case-insensitive)`,
      );
    else taken.set(key, path);
  };
  inputs.forEach((input, i) => {
    const path = `inputs[${i}]`;
    if (!c.object(input, path)) return;
    c.unknownProperties(input, INPUT_PROPERTIES, path);
    c.required(input, ['name', 'label', 'type'], path);
    if (c.string(input.name, `${path}.name`)) {
      if (!INPUT_NAME.test(input.name)) {
        c.add(
          `${path}.name`,
          `${quote(input.name)} must start with a letter and contain only letters and digits`,
        );
      }
      claim(input.name, `${path}.name`);
    }
    c.stringArray(input.aliases, `${path}.aliases`).forEach((alias, j) =>
      claim(alias, `${path}.aliases[${j}]`),
    );
    c.string(input.label, `${path}.label`);
    if (
      c.string(input.type, `${path}.type`) &&
      !INPUT_TYPES.includes(input.type) &&
      !CONNECTED_SERVICE.test(input.type)
    ) {
      c.add(
        `${path}.type`,
        `${quote(input.type)} is not one of ${INPUT_TYPES.join(', ')} or connectedService:<type>`,
      );
    }
    if (
      input.defaultValue !== undefined &&
      typeof input.defaultValue !== 'string' &&
      typeof input.defaultValue !== 'boolean'
    ) {
      c.add(`${path}.defaultValue`, 'must be a string or a boolean');
    }
    c.boolean(input.required, `${path}.required`);
    c.string(input.helpMarkDown, `${path}.helpMarkDown`);
    if (c.string(input.groupName, `${path}.groupName`) && !groupNames.includes(input.groupName)) {
      c.add(`${path}.groupName`, `${quote(input.groupName)} is not the name of a group`);
    }
    if (c.string(input.visibleRule, `${path}.visibleRule`)) {
      for (const problem of visibleRuleProblems(input.visibleRule, names))
        c.add(`${path}.visibleRule`, problem);
    }
    if (c.object(input.properties, `${path}.properties`)) {
      for (const [key, allowed] of Object.entries(INPUT_FLAG_PROPERTIES)) {
        const value = input.properties[key];
        if (value !== undefined && (typeof value !== 'string' || !allowed.includes(value))) {
          c.add(`${path}.properties.${key}`, `must be ${allowed.map((v) => `"${v}"`).join(' or ')}`);
        }
      }
    }
    c.object(input.options, `${path}.options`);
  });
}

function checkOutputVariables(c: Checker, outputVariables: unknown): void {
  if (!c.array(outputVariables, 'outputVariables')) return;
  const seen = new Set<string>();
  outputVariables.forEach((variable, i) => {
    const path = `outputVariables[${i}]`;
    if (!c.object(variable, path)) return;
    c.unknownProperties(variable, OUTPUT_VARIABLE_PROPERTIES, path);
    c.required(variable, ['name'], path);
    if (c.string(variable.name, `${path}.name`)) {
      if (!OUTPUT_VARIABLE_NAME.test(variable.name)) {
        c.add(
          `${path}.name`,
          `${quote(variable.name)} must start with a letter and contain only letters and digits`,
        );
      }
      if (seen.has(variable.name)) c.add(`${path}.name`, `duplicate output variable ${quote(variable.name)}`);
      seen.add(variable.name);
    }
    c.string(variable.description, `${path}.description`);
  });
}

function checkBindings(c: Checker, manifest: Json): void {
  const inputNames = inputNamesOf(manifest.inputs);
  for (const [key, allowed] of [
    ['dataSourceBindings', DATA_SOURCE_BINDING_PROPERTIES],
    ['sourceDefinitions', SOURCE_DEFINITION_PROPERTIES],
  ] as const) {
    const list = manifest[key];
    if (!c.array(list, key)) continue;
    list.forEach((binding, i) => {
      const path = `${key}[${i}]`;
      if (!c.object(binding, path)) return;
      c.unknownProperties(binding, allowed, path);
      for (const [name, value] of Object.entries(binding)) {
        if (name !== 'parameters') c.string(value, `${path}.${name}`);
      }
      if (binding.parameters !== undefined) c.object(binding.parameters, `${path}.parameters`);
      if (typeof binding.target === 'string' && !inputNames.includes(binding.target)) {
        c.add(`${path}.target`, `${quote(binding.target)} is not an input`);
      }
      if (typeof binding.RequestVerb === 'string' && !REQUEST_VERBS.includes(binding.RequestVerb)) {
        c.add(
          `${path}.RequestVerb`,
          `${quote(binding.RequestVerb)} is not one of ${REQUEST_VERBS.join(', ')}`,
        );
      }
    });
  }
}

function checkRestrictions(c: Checker, restrictions: unknown): void {
  if (!c.object(restrictions, 'restrictions')) return;
  c.unknownProperties(restrictions, ['commands', 'settableVariables'], 'restrictions');
  if (c.object(restrictions.commands, 'restrictions.commands')) {
    c.unknownProperties(restrictions.commands, ['mode'], 'restrictions.commands');
    const mode = restrictions.commands.mode;
    if (c.string(mode, 'restrictions.commands.mode') && !['any', 'restricted'].includes(mode)) {
      c.add('restrictions.commands.mode', `${quote(mode)} is not one of any, restricted`);
    }
  }
  if (c.object(restrictions.settableVariables, 'restrictions.settableVariables')) {
    c.unknownProperties(restrictions.settableVariables, ['allowed'], 'restrictions.settableVariables');
    c.stringArray(restrictions.settableVariables.allowed, 'restrictions.settableVariables.allowed');
  }
}

interface SectionSummary {
  section: string;
  handlers: string[];
}

function checkExecution(c: Checker, manifest: Json): SectionSummary[] {
  const summaries: SectionSummary[] = [];
  for (const section of EXECUTION_SECTIONS) {
    const value = manifest[section];
    if (!c.object(value, section)) continue;
    const handlers: string[] = [];
    const targets = new Map<string, string>();
    for (const [handler, definition] of Object.entries(value)) {
      const path = `${section}.${handler}`;
      if (!(handler in HANDLERS)) {
        c.add(path, `unknown handler (allowed: ${Object.keys(HANDLERS).join(', ')})`);
        continue;
      }
      handlers.push(handler);
      if (!c.object(definition, path)) continue;
      c.required(definition, ['target'], path);
      if (c.string(definition.target, `${path}.target`)) targets.set(handler, definition.target);
      c.string(definition.argumentFormat, `${path}.argumentFormat`);
      c.string(definition.workingDirectory, `${path}.workingDirectory`);
      c.stringArray(definition.platforms, `${path}.platforms`).forEach((platform, i) => {
        if (platform !== 'windows')
          c.add(`${path}.platforms[${i}]`, `${quote(platform)} is not one of windows`);
      });
    }
    if (Object.keys(value).length === 0) {
      c.add(section, 'declares no handler');
      continue;
    }
    if (handlers.length > 0 && handlers.every((handler) => HANDLERS[handler].endOfLife)) {
      c.add(section, `every handler (${handlers.join(', ')}) is end-of-life; add Node20_1 or Node24`);
    }
    if (new Set(targets.values()).size > 1) {
      const list = [...targets].map(([handler, target]) => `${handler}: ${target}`).join(', ');
      c.add(section, `handlers run different files (${list}); every handler must run the same bundle`);
    }
    summaries.push({ section, handlers });
  }
  return summaries;
}

/**
 * The agent picks the highest handler it supports, so a section runs on any agent that supports its lowest
 * handler; minimumAgentVersion must keep older agents from picking a task none of whose handlers they have.
 */
function checkMinimumAgentVersion(c: Checker, manifest: Json, sections: SectionSummary[]): void {
  let needed: { version: string; handler: string; section: string } | undefined;
  for (const { section, handlers } of sections) {
    const versions = handlers.map((handler) => ({ handler, version: HANDLERS[handler].minimumAgentVersion }));
    // Only decidable when every handler's requirement is known (not for PowerShell or end-of-life Node).
    if (versions.length === 0 || versions.some((v) => v.version === undefined)) continue;
    const lowest = versions.reduce((a, b) => (compareVersions(a.version!, b.version!) <= 0 ? a : b));
    if (!needed || compareVersions(lowest.version!, needed.version) > 0) {
      needed = { version: lowest.version!, handler: lowest.handler, section };
    }
  }
  const declared = manifest.minimumAgentVersion;
  if (typeof declared === 'string' && !AGENT_VERSION.test(declared)) return;
  if (!needed) return;
  const why = `${needed.handler}, the lowest handler of ${needed.section}, needs agent ${needed.version} or later`;
  if (declared === undefined) c.add('minimumAgentVersion', `required property is missing: ${why}`);
  else if (typeof declared === 'string' && compareVersions(declared, needed.version) < 0) {
    c.add('minimumAgentVersion', `${declared} is too low: ${why}`);
  }
}

/** Every rule violation of a task.json, one line each; empty when the manifest is fine. */
export function checkTaskManifest(manifest: unknown): string[] {
  const c = new Checker();
  if (!isObject(manifest)) return ['task.json must be a JSON object'];

  c.unknownProperties(manifest, TOP_LEVEL_PROPERTIES, '');
  c.required(manifest, REQUIRED_PROPERTIES, '');
  for (const key of [
    '$schema',
    'friendlyName',
    'description',
    'helpUrl',
    'helpMarkDown',
    'author',
    'instanceNameFormat',
    'releaseNotes',
  ]) {
    c.string(manifest[key], key);
  }
  for (const key of ['preview', 'deprecated', 'showEnvironmentVariables']) c.boolean(manifest[key], key);

  if (c.string(manifest.id, 'id') && !GUID.test(manifest.id))
    c.add('id', `${quote(manifest.id)} is not a GUID`);
  if (c.string(manifest.name, 'name') && !TASK_NAME.test(manifest.name)) {
    c.add('name', `${quote(manifest.name)} may only contain letters, digits and hyphens`);
  }
  if (typeof manifest.friendlyName === 'string' && manifest.friendlyName.length > MAX_FRIENDLY_NAME) {
    c.add(
      'friendlyName',
      `${manifest.friendlyName.length} characters; at most ${MAX_FRIENDLY_NAME} are allowed`,
    );
  }
  if (c.string(manifest.category, 'category') && !CATEGORIES.includes(manifest.category)) {
    c.add('category', `${quote(manifest.category)} is not one of ${CATEGORIES.join(', ')}`);
  }
  c.enumArray(manifest.runsOn, RUNS_ON, 'runsOn');
  c.enumArray(manifest.visibility, VISIBILITY, 'visibility');
  c.stringArray(manifest.demands, 'demands');
  if (
    c.string(manifest.minimumAgentVersion, 'minimumAgentVersion') &&
    !AGENT_VERSION.test(manifest.minimumAgentVersion)
  ) {
    c.add('minimumAgentVersion', `${quote(manifest.minimumAgentVersion)} is not a version such as 4.248.0`);
  }
  if (c.string(manifest.removalDate, 'removalDate') && !DATE.test(manifest.removalDate)) {
    c.add('removalDate', `${quote(manifest.removalDate)} is not a date such as 2026-12-31`);
  }
  checkVersion(c, manifest.version);

  const groupNames = checkGroups(c, manifest.groups);
  const inputNames = inputNamesOf(manifest.inputs);
  if (Array.isArray(manifest.groups)) {
    manifest.groups.forEach((group, i) => {
      if (isObject(group) && typeof group.visibleRule === 'string') {
        for (const problem of visibleRuleProblems(group.visibleRule, inputNames))
          c.add(`groups[${i}].visibleRule`, problem);
      } else if (isObject(group)) c.string(group.visibleRule, `groups[${i}].visibleRule`);
    });
  }
  checkInputs(c, manifest.inputs, groupNames);
  checkOutputVariables(c, manifest.outputVariables);
  checkBindings(c, manifest);
  checkRestrictions(c, manifest.restrictions);

  const sections = checkExecution(c, manifest);
  checkMinimumAgentVersion(c, manifest, sections);

  if (c.object(manifest.messages, 'messages')) {
    for (const [key, value] of Object.entries(manifest.messages)) c.string(value, `messages.${key}`);
  }
  return c.violations;
}
