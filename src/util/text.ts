/** Bounds on text that came from someone else's object and is echoed back (Events, /status, logs). */

/** Default bound for one value quoted inside a message (an annotation value, an address). */
export const MAX_QUOTED = 64;
/** Default bound for a whole message or reason. */
export const MAX_MESSAGE = 1024;

/** `s` cut to at most `max` characters (UTF-16 units), marking the cut with "…(+N)". */
export function clip(s: string, max = MAX_MESSAGE): string {
  if (s.length <= max) return s;
  const tail = `…(+${s.length - max})`;
  return s.slice(0, Math.max(0, max - tail.length)) + tail;
}

/** JSON.stringify of a clipped string: how a foreign value is quoted in a reason. */
export const quote = (s: string, max = MAX_QUOTED): string => JSON.stringify(clip(s, max));
