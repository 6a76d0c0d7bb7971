/** Typed errors thrown by adapters. Only the reconcile loop (or the CLI) logs them. */

export class BgpvsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A spawned process exited non-zero (or could not start). */
export class CommandError extends BgpvsError {
  readonly argv: readonly string[];
  readonly exitCode: number | undefined;
  readonly stderr: string;
  constructor(argv: readonly string[], exitCode: number | undefined, stderr: string, options?: { cause?: unknown }) {
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    super(`command failed (exit ${exitCode ?? 'none'}): ${argv.join(' ')}${tail ? `: ${tail}` : ''}`, options);
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** A config value (flag, env var, ConfigMap key, CRD field) is invalid. */
export class ConfigError extends BgpvsError {
  readonly field: string;
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super(`${field}: ${message}`, options);
    this.field = field;
  }
}

/** A wait for an external condition ran out of time. */
export class TimeoutError extends BgpvsError {
  constructor(what: string, ms: number, options?: { cause?: unknown }) {
    super(`timed out after ${ms} ms waiting for ${what}`, options);
  }
}

/** A gobgpd gRPC call failed; `code` is the gRPC status code (undefined: no status). */
export class GobgpError extends BgpvsError {
  readonly rpc: string;
  readonly code: number | undefined;
  constructor(rpc: string, code: number | undefined, message: string, options?: { cause?: unknown }) {
    super(`gobgp ${rpc}${code !== undefined ? ` (grpc code ${code})` : ''}: ${message}`, options);
    this.rpc = rpc;
    this.code = code;
  }
}
