/** A reference to one key of a Secret (a BGP peer's password). */
export interface SecretKeyRef {
  namespace: string;
  name: string;
  key: string;
}

/** The map key under which an observed Secret value is passed to the pure step. */
export const secretKey = (r: SecretKeyRef): string => `${r.namespace}/${r.name}#${r.key}`;
