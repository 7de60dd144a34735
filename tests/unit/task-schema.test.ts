import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  HANDLERS,
  REQUIRED_PROPERTIES,
  checkTaskManifest,
  visibleRuleProblems,
} from '../../tools/task-rules';
import { REPO_ROOT } from '../../tools/repo-root';

type Manifest = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const TASK: Manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'task.json'), 'utf8')) as Manifest;

/** Replaces the groups, and takes the inputs out of the real ones, so a case tests only its own groups. */
function replaceGroups(manifest: Manifest, groups: Manifest['groups']): void {
  for (const input of manifest.inputs) delete input.groupName;
  manifest.groups = groups;
}

function broken(edit: (manifest: Manifest) => void): Manifest {
  const copy = structuredClone(TASK);
  edit(copy);
  return copy;
}

interface Case {
  rule: string;
  edit: (manifest: Manifest) => void;
  expected: string[];
}

const HANDLER_LIST = Object.keys(HANDLERS).join(', ');

const CASES: Case[] = [
  // Top level.
  { rule: 'no additional properties', edit: (m) => (m.foo = 1), expected: ['foo: unknown property'] },
  ...REQUIRED_PROPERTIES.map((key) => ({
    rule: `${key} is required`,
    edit: (m: Manifest) => delete m[key],
    expected: [`${key}: required property is missing`],
  })),
  { rule: 'author is a string', edit: (m) => (m.author = 5), expected: ['author: must be a string'] },
  {
    rule: 'preview is a boolean',
    edit: (m) => (m.preview = 'yes'),
    expected: ['preview: must be a boolean'],
  },
  {
    rule: 'id is a GUID',
    edit: (m) => (m.id = 'AzureWorkloadIdentity'),
    expected: ["id: 'AzureWorkloadIdentity' is not a GUID"],
  },
  {
    rule: 'name has no spaces',
    edit: (m) => (m.name = 'Azure Workload Identity'),
    expected: ["name: 'Azure Workload Identity' may only contain letters, digits and hyphens"],
  },
  {
    rule: 'friendlyName is at most 40 characters',
    edit: (m) => (m.friendlyName = 'Azure workload identity federation for every later step'),
    expected: ['friendlyName: 55 characters; at most 40 are allowed'],
  },
  {
    rule: 'category is one of the schema enum',
    edit: (m) => (m.category = 'Security'),
    expected: [
      "category: 'Security' is not one of Build, Utility, Test, Package, Deploy, Azure Repos, Azure Boards, Azure Pipelines, Azure Test Plans, Azure Artifacts",
    ],
  },
  {
    rule: 'runsOn items are from the enum',
    edit: (m) => (m.runsOn = ['Agent', 'Container']),
    expected: [
      "runsOn[1]: 'Container' is not one of Agent, MachineGroup, Server, ServerGate, DeploymentGroup",
    ],
  },
  { rule: 'runsOn is an array', edit: (m) => (m.runsOn = 'Agent'), expected: ['runsOn: must be an array'] },
  {
    rule: 'visibility items are from the enum',
    edit: (m) => (m.visibility = ['Build', 'Preview']),
    expected: ["visibility[1]: 'Preview' is not one of Build, Release"],
  },
  {
    rule: 'demands are strings',
    edit: (m) => (m.demands = ['azureps', 3]),
    expected: ['demands[1]: must be a string'],
  },
  {
    rule: 'minimumAgentVersion looks like a version',
    edit: (m) => (m.minimumAgentVersion = 'v4.248'),
    expected: ["minimumAgentVersion: 'v4.248' is not a version such as 4.248.0"],
  },
  {
    rule: 'removalDate is YYYY-MM-DD',
    edit: (m) => (m.removalDate = '31/12/2026'),
    expected: ["removalDate: '31/12/2026' is not a date such as 2026-12-31"],
  },
  {
    rule: 'messages are strings',
    edit: (m) => (m.messages = { Done: 'Done', Count: 3 }),
    expected: ['messages.Count: must be a string'],
  },

  // version.
  {
    rule: 'version parts are numbers',
    edit: (m) => (m.version.Minor = '1'),
    expected: ['version.Minor: must be a number'],
  },
  {
    rule: 'version parts are non-negative integers',
    edit: (m) => (m.version.Patch = -1),
    expected: ['version.Patch: must be a non-negative integer'],
  },
  {
    rule: 'version has Major, Minor, Patch',
    edit: (m) => delete m.version.Patch,
    expected: ['version.Patch: required property is missing'],
  },
  {
    rule: 'version has nothing else',
    edit: (m) => (m.version.Build = 7),
    expected: ['version.Build: unknown property'],
  },

  // groups.
  {
    rule: 'groups need name and displayName',
    edit: (m) => replaceGroups(m, [{ name: 'advanced' }]),
    expected: ['groups[0].displayName: required property is missing'],
  },
  {
    rule: 'group names are unique',
    edit: (m) =>
      replaceGroups(m, [
        { name: 'advanced', displayName: 'Advanced' },
        { name: 'advanced', displayName: 'More' },
      ]),
    expected: ["groups[1].name: duplicate group name 'advanced'"],
  },
  {
    rule: 'groups have no additional properties',
    edit: (m) => replaceGroups(m, [{ name: 'advanced', displayName: 'Advanced', collapsed: true }]),
    expected: ['groups[0].collapsed: unknown property'],
  },
  {
    rule: "a group's visibleRule names an input",
    edit: (m) =>
      replaceGroups(m, [{ name: 'advanced', displayName: 'Advanced', visibleRule: 'mode = expert' }]),
    expected: ["groups[0].visibleRule: clause 'mode = expert' refers to 'mode', which is not an input"],
  },

  // inputs.
  {
    rule: 'input names match ^[A-Za-z][A-Za-z0-9]*$',
    edit: (m) => (m.inputs[0].name = 'connected_service'),
    expected: [
      "inputs[0].name: 'connected_service' must start with a letter and contain only letters and digits",
    ],
  },
  {
    rule: 'inputs need a label',
    edit: (m) => delete m.inputs[0].label,
    expected: ['inputs[0].label: required property is missing'],
  },
  {
    rule: 'input types are from the enum or connectedService:<type>',
    edit: (m) => (m.inputs[0].type = 'serviceConnection'),
    expected: [
      "inputs[0].type: 'serviceConnection' is not one of boolean, filePath, multiLine, pickList, radio, secureFile, string, int, identities, querycontrol or connectedService:<type>",
    ],
  },
  {
    rule: 'connectedService:<any type> is allowed',
    edit: (m) => (m.inputs[0].type = 'connectedService:Generic'),
    expected: [],
  },
  {
    rule: 'connectedService: needs a type',
    edit: (m) => (m.inputs[0].type = 'connectedService:'),
    expected: [
      "inputs[0].type: 'connectedService:' is not one of boolean, filePath, multiLine, pickList, radio, secureFile, string, int, identities, querycontrol or connectedService:<type>",
    ],
  },
  {
    rule: 'defaultValue is a string or a boolean',
    edit: (m) => (m.inputs[0].defaultValue = 30),
    expected: ['inputs[0].defaultValue: must be a string or a boolean'],
  },
  {
    rule: 'required is a boolean',
    edit: (m) => (m.inputs[0].required = 'true'),
    expected: ['inputs[0].required: must be a boolean'],
  },
  {
    rule: 'inputs have no additional properties',
    edit: (m) => (m.inputs[0].secret = true),
    expected: ['inputs[0].secret: unknown property'],
  },
  {
    rule: 'groupName names a group',
    edit: (m) => (m.inputs[0].groupName = 'no-such-group'),
    expected: ["inputs[0].groupName: 'no-such-group' is not the name of a group"],
  },
  {
    rule: 'groupName may name a group that exists',
    edit: (m) => {
      replaceGroups(m, [{ name: 'advanced', displayName: 'Advanced', isExpanded: false }]);
      m.inputs[0].groupName = 'advanced';
    },
    expected: [],
  },
  {
    rule: 'aliases are strings',
    edit: (m) => (m.inputs[0].aliases = ['azureSubscription', 1]),
    expected: ['inputs[0].aliases[1]: must be a string'],
  },
  {
    rule: 'input names and aliases are unique, case-insensitively',
    edit: (m) => m.inputs.push({ name: 'AzureSubscription', type: 'string', label: 'Other' }),
    expected: [
      `inputs[${TASK.inputs.length}].name: 'AzureSubscription' is already used by inputs[0].aliases[0] (input names and aliases are case-insensitive)`,
    ],
  },
  {
    rule: 'visibleRule refers to inputs',
    edit: (m) => (m.inputs[0].visibleRule = 'useOidc = true'),
    expected: ["inputs[0].visibleRule: clause 'useOidc = true' refers to 'useOidc', which is not an input"],
  },
  {
    rule: 'visibleRule clauses have an operator',
    edit: (m) => (m.inputs[0].visibleRule = 'connectedServiceNameARM'),
    expected: [
      "inputs[0].visibleRule: clause 'connectedServiceNameARM' is not '<input> <operator> <value>' (operators: == != <= >= = < > NotContains NotEndsWith NotStartsWith Contains EndsWith StartsWith)",
    ],
  },
  {
    rule: 'visibleRule clauses have a value',
    edit: (m) => (m.inputs[0].visibleRule = 'connectedServiceNameARM !='),
    expected: [
      `inputs[0].visibleRule: clause 'connectedServiceNameARM !=' has no value (write "" for the empty string)`,
    ],
  },
  {
    rule: 'visibleRule may combine clauses with && and || and worded operators',
    edit: (m) => {
      m.inputs.push({ name: 'mode', type: 'pickList', label: 'Mode', options: { a: 'A', b: 'B' } });
      m.inputs.push({
        name: 'detail',
        type: 'string',
        label: 'Detail',
        visibleRule: 'mode = a && connectedServiceNameARM != "" || mode NotEndsWith b',
      });
    },
    expected: [],
  },
  {
    rule: 'input flag properties are "True" or "False"',
    edit: (m) => (m.inputs[0].properties = { EditableOptions: 'yes' }),
    expected: ['inputs[0].properties.EditableOptions: must be "True" or "False"'],
  },
  {
    rule: 'dataSourceBindings target an input',
    edit: (m) =>
      (m.dataSourceBindings = [{ target: 'subscription', endpointId: '$(connectedServiceNameARM)' }]),
    expected: ["dataSourceBindings[0].target: 'subscription' is not an input"],
  },
  {
    rule: 'dataSourceBindings use a known verb',
    edit: (m) => (m.dataSourceBindings = [{ target: 'connectedServiceNameARM', RequestVerb: 'FETCH' }]),
    expected: [
      "dataSourceBindings[0].RequestVerb: 'FETCH' is not one of GET, POST, DELETE, OPTIONS, HEAD, PUT, TRACE, PATCH",
    ],
  },

  // outputVariables.
  {
    rule: 'output variable names match ^[A-Za-z][A-Za-z0-9]*$',
    edit: (m) => (m.outputVariables[0].name = 'service_connection_id'),
    expected: [
      "outputVariables[0].name: 'service_connection_id' must start with a letter and contain only letters and digits",
    ],
  },
  {
    rule: 'output variables need a name',
    edit: (m) => delete m.outputVariables[0].name,
    expected: ['outputVariables[0].name: required property is missing'],
  },
  {
    rule: 'output variable names are unique',
    edit: (m) => m.outputVariables.push({ name: 'azureTenantId', description: 'Again.' }),
    expected: [
      `outputVariables[${TASK.outputVariables.length}].name: duplicate output variable 'azureTenantId'`,
    ],
  },
  {
    rule: 'output variables have no additional properties',
    edit: (m) => (m.outputVariables[0].isSecret = true),
    expected: ['outputVariables[0].isSecret: unknown property'],
  },

  // Handlers.
  {
    rule: 'handlers are the known ones (Node20 is not, Node20_1 is)',
    edit: (m) => (m.execution.Node20 = { target: 'dist/main.js' }),
    expected: [`execution.Node20: unknown handler (allowed: ${HANDLER_LIST})`],
  },
  {
    rule: 'handlers need a target',
    edit: (m) => delete m.execution.Node24.target,
    expected: ['execution.Node24.target: required property is missing'],
  },
  {
    rule: 'handler platforms are windows only',
    edit: (m) => (m.execution.Node24.platforms = ['linux']),
    expected: ["execution.Node24.platforms[0]: 'linux' is not one of windows"],
  },
  {
    rule: 'every handler of a section runs the same bundle',
    edit: (m) => (m.postjobexecution.Node20_1.target = 'dist/cleanup.js'),
    expected: [
      'postjobexecution: handlers run different files (Node24: dist/post.js, Node20_1: dist/cleanup.js); every handler must run the same bundle',
    ],
  },
  {
    rule: 'execution declares a handler',
    edit: (m) => (m.execution = {}),
    expected: ['execution: declares no handler'],
  },
  {
    rule: 'a section has a handler that is not end-of-life',
    edit: (m) => (m.execution = { Node16: { target: 'dist/main.js' } }),
    expected: ['execution: every handler (Node16) is end-of-life; add Node20_1 or Node24'],
  },
  {
    rule: 'prejobexecution follows the same rules',
    edit: (m) => (m.prejobexecution = { Node20: { target: 'dist/pre.js' } }),
    expected: [`prejobexecution.Node20: unknown handler (allowed: ${HANDLER_LIST})`],
  },

  // minimumAgentVersion against the handlers.
  {
    rule: 'minimumAgentVersion covers the lowest handler',
    edit: (m) => (m.minimumAgentVersion = '3.220.0'),
    expected: [
      'minimumAgentVersion: 3.220.0 is too low: Node20_1, the lowest handler of execution, needs agent 4.248.0 or later',
    ],
  },
  {
    rule: 'minimumAgentVersion is required with Node20_1/Node24 handlers',
    edit: (m) => delete m.minimumAgentVersion,
    expected: [
      'minimumAgentVersion: required property is missing: Node20_1, the lowest handler of execution, needs agent 4.248.0 or later',
    ],
  },
  {
    rule: 'minimumAgentVersion covers every section (Node24-only post-job step)',
    edit: (m) => delete m.postjobexecution.Node20_1,
    expected: [
      'minimumAgentVersion: 4.248.0 is too low: Node24, the lowest handler of postjobexecution, needs agent 4.265.1 or later',
    ],
  },
  {
    rule: 'a higher minimumAgentVersion is fine',
    edit: (m) => (m.minimumAgentVersion = '4.266.2'),
    expected: [],
  },

  // restrictions.
  {
    rule: 'restrictions.commands.mode is any or restricted',
    edit: (m) => (m.restrictions = { commands: { mode: 'none' }, settableVariables: { allowed: ['ARM_*'] } }),
    expected: ["restrictions.commands.mode: 'none' is not one of any, restricted"],
  },
];

describe('task.json against the rules of Microsoft task schema', () => {
  it('the real task.json has no violations', () => {
    assert.deepEqual(checkTaskManifest(TASK), []);
  });

  it('a manifest that is not an object is one violation', () => {
    assert.deepEqual(checkTaskManifest([]), ['task.json must be a JSON object']);
    assert.deepEqual(checkTaskManifest(null), ['task.json must be a JSON object']);
  });

  for (const { rule, edit, expected } of CASES) {
    it(`${rule}${expected.length === 0 ? ' (accepted)' : ''}`, () => {
      assert.deepEqual(checkTaskManifest(broken(edit)), expected);
    });
  }

  it('the broken copies leave the real manifest untouched', () => {
    assert.deepEqual(checkTaskManifest(TASK), []);
  });

  describe('visibleRuleProblems', () => {
    it('accepts every operator the task editor knows', () => {
      for (const rule of [
        'a == 1',
        'a != ""',
        'a <= 2',
        'a >= 2',
        'a < 2',
        'a > 2',
        'a Contains x',
        'a NotStartsWith x',
      ]) {
        assert.deepEqual(visibleRuleProblems(rule, ['a']), [], rule);
      }
    });

    it('rejects an empty rule', () => {
      assert.deepEqual(visibleRuleProblems(' ', ['a']), ['is empty']);
    });
  });
});
