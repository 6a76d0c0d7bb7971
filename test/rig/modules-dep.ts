/**
 * Kernel module dependencies from `modules.dep` text (what `depmod -n` prints first): which
 * .ko files a set of modules needs, in an order `insmod` can load them. Pure.
 */
import { BgpvsError } from '../../src/errors.js';

/** Module name as the kernel knows it: file name without .ko(.xz|.zst|.gz), `-` → `_`. */
export function moduleName(relPath: string): string {
  const base = relPath.slice(relPath.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.[a-z0-9]+)?$/, '').replace(/-/g, '_');
}

export interface ModulesDep {
  /** relative .ko path → the relative paths it depends on (as listed). */
  deps: Map<string, string[]>;
  /** module name → relative .ko path. */
  byName: Map<string, string>;
  /** plain alias (no wildcards) → module names, from `alias A module` lines. */
  aliases: Map<string, string[]>;
  /** module name → names (modules or aliases) to load before it, from `softdep M pre: ...`. */
  softPre: Map<string, string[]>;
}

/**
 * Parse the output of `depmod -n`: `path: dep dep ...` lines (modules.dep, up to the first
 * `#` line), then `alias` and `softdep` lines from the other index files. modules.dep text
 * alone works too.
 */
export function parseModulesDep(text: string): ModulesDep {
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  const aliases = new Map<string, string[]>();
  const softPre = new Map<string, string[]>();
  let inDep = true;
  for (const raw of text.split('\n')) {
    if (raw.startsWith('#')) inDep = false;
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (!inDep) {
      const alias = /^alias ([^\s*?[]+) (\S+)$/.exec(line);
      if (alias) aliases.set(alias[1]!, [...(aliases.get(alias[1]!) ?? []), alias[2]!]);
      const soft = /^softdep (\S+) (.*)$/.exec(line);
      if (soft) {
        const pre = /(?:^|\s)pre:((?:\s+(?!post:)\S+)*)/.exec(soft[2]!);
        const names = pre?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];
        if (names.length) softPre.set(soft[1]!.replace(/-/g, '_'), names);
      }
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new BgpvsError(`modules.dep: bad line ${JSON.stringify(line)}`);
    const path = line.slice(0, colon);
    deps.set(path, line.slice(colon + 1).trim().split(/\s+/).filter(Boolean));
    byName.set(moduleName(path), path);
  }
  return { deps, byName, aliases, softPre };
}

/**
 * The .ko path for a module name or a plain alias. An alias with several modules (crc32c:
 * crc32c_intel, crc32c_generic) picks the `_generic` one, which works on every CPU.
 */
export function lookupModule(dep: ModulesDep, nameOrAlias: string): string | undefined {
  const name = nameOrAlias.replace(/-/g, '_');
  const direct = dep.byName.get(name);
  if (direct) return direct;
  const targets = (dep.aliases.get(nameOrAlias) ?? dep.aliases.get(name) ?? []).filter((t) => dep.byName.has(t));
  const pick = targets.find((t) => t.endsWith('_generic')) ?? targets[0];
  return pick === undefined ? undefined : dep.byName.get(pick);
}

export interface ResolvedModules {
  /** Relative .ko paths, each after everything it depends on. */
  order: string[];
  /** Requested names that are built into the kernel (nothing to load). */
  builtin: string[];
}

/**
 * The .ko files for `names` and all their dependencies, dependencies first, each once.
 * Soft `pre:` dependencies load before their module when they resolve to a module (ones
 * that are built in or absent are skipped, as modprobe does). A requested name that is
 * neither a module, an alias, nor in `builtin` (module names of modules.builtin) throws.
 */
export function resolveModules(dep: ModulesDep, names: readonly string[], builtin: ReadonlySet<string> = new Set()): ResolvedModules {
  const order: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const builtinHit: string[] = [];
  const visit = (path: string, chain: string[]): void => {
    if (done.has(path)) return;
    if (visiting.has(path)) throw new BgpvsError(`modules.dep: dependency cycle ${[...chain, path].join(' -> ')}`);
    const ds = dep.deps.get(path);
    if (!ds) throw new BgpvsError(`modules.dep: ${path} (needed by ${chain.at(-1) ?? '?'}) is not listed`);
    visiting.add(path);
    for (const soft of dep.softPre.get(moduleName(path)) ?? []) {
      const sp = lookupModule(dep, soft);
      if (sp && !visiting.has(sp)) visit(sp, [...chain, path]);
    }
    for (const d of ds) visit(d, [...chain, path]);
    visiting.delete(path);
    done.add(path);
    order.push(path);
  };
  for (const raw of names) {
    const name = raw.replace(/-/g, '_');
    const path = lookupModule(dep, raw);
    if (path) visit(path, []);
    else if (builtin.has(name)) builtinHit.push(name);
    else throw new BgpvsError(`kernel module ${raw} not found (neither a module nor built in)`);
  }
  return { order, builtin: builtinHit };
}

/** Module names from `modules.builtin` text (one relative path a line). */
export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map(moduleName),
  );
}
