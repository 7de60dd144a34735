/**
 * A stand-in for a module the task's bundle never uses on any of its code paths (see tools/slim.ts):
 * loading it is free, and any use of it fails loudly, naming the module, instead of doing something else.
 * Only `__esModule` (read by esbuild's import interop) and symbol-keyed reads (inspection) pass; every other
 * read of the module throws, and so does every call or `new` of a member listed in `members`.
 */
export class StubbedModuleError extends Error {
  constructor(moduleName: string, member: string, reason: string) {
    super(
      `The task used ${moduleName}${member ? `.${member}` : ''}, which its bundle leaves out because ${reason}. ` +
        'This is a bug in the task (tools/slim.ts): please report it with this message.',
    );
    this.name = 'StubbedModuleError';
  }
}

/** A function (also usable with `new`) that throws {@link StubbedModuleError}. */
export function throwingMember(moduleName: string, member: string, reason: string): () => never {
  return function stubbed(): never {
    throw new StubbedModuleError(moduleName, member, reason);
  };
}

/**
 * The module object: `members` may be read (e.g. re-exported at load time) but throw when called; any other
 * property read throws at once.
 */
export function unusedModule(moduleName: string, reason: string, members: readonly string[] = []): object {
  const known = new Map(members.map((member) => [member, throwingMember(moduleName, member, reason)]));
  return new Proxy(Object.create(null) as object, {
    get(_target, key) {
      if (typeof key === 'symbol' || key === '__esModule') return undefined;
      const member = known.get(key);
      if (member) return member;
      throw new StubbedModuleError(moduleName, key, reason);
    },
    has: (_target, key) => typeof key === 'string' && known.has(key),
    set(_target, key) {
      throw new StubbedModuleError(moduleName, String(key), reason);
    },
  });
}
