import { StubbedModuleError, unusedModule } from './unused';

// task-lib uses semver only for semver.lt: process.versions.node against '4.2.0' when it loads (internal.js,
// task.js) and the agent's version in assertAgent, which the task never calls. semver 5 builds ~40 regular
// expressions when it loads (≈18 KB minified); plain x.y.z versions, which both are, compare here exactly as
// semver compares them, and anything else fails loudly instead of comparing differently.
const REASON = 'task-lib only compares plain x.y.z versions with semver.lt';
const PLAIN = /^(\d+)\.(\d+)\.(\d+)$/;

function plain(version: unknown): number[] {
  const match = typeof version === 'string' ? PLAIN.exec(version) : null;
  if (!match) throw new StubbedModuleError('semver', `lt(${JSON.stringify(version)})`, REASON);
  return match.slice(1).map(Number);
}

function lt(a: unknown, b: unknown): boolean {
  const [x, y] = [plain(a), plain(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] < y[i];
  return false;
}

const others = unusedModule('semver', REASON) as Record<string | symbol, unknown>;

// lt works; every other member throws, as in the other stubs.
export = new Proxy(others, {
  get: (target, key, receiver) => (key === 'lt' ? lt : Reflect.get(target, key, receiver)),
  has: (target, key) => key === 'lt' || Reflect.has(target, key),
});
