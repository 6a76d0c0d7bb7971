/**
 * Issue 19: a router restart must not take the VIPs away. BIRD 2 with BFD 100 ms × 3 towards
 * gobgpd's native BFD: after BIRD restarts, gobgpd v4.8.0 resets each session the moment it
 * is Established, forever (docs/gobgpd-bfd-restart.md). The supervisor's session guard
 * re-creates such a peer; the sessions must then come back and stay up for a whole window.
 * With the guard off (sessionGuard: false) this test fails: the loop never ends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BgpLab, ad, skipReason } from '../rig/bgp-lab.js';
import type { BgpMetricsSink } from '../../src/bgp/supervisor.js';
import { waitFor } from '../../src/util/wait.js';

const VIP = '10.100.0.10/32';
const NODES = 2;
/** How long the sessions must stay up after they are back (the e2e wants 60 s). */
const STABLE_MS = 25_000;

interface Recorder {
  /** [ms, node, peer state] of every session state change. */
  changes: [number, number, string][];
  repairs: string[];
  sink(i: number): BgpMetricsSink;
}

function recorder(): Recorder {
  const r: Recorder = {
    changes: [],
    repairs: [],
    sink: (i) => ({
      bgpSessionChanges: { inc: (l) => void r.changes.push([Date.now(), i, l.state]) },
      bgpSessionUp: { set: () => undefined, remove: () => undefined },
      bfdRepairs: { inc: (l) => void r.repairs.push(`n${i}:${l.reason}`) },
    }),
  };
  return r;
}

/** Drops from Established of any node after `since`. */
function dropsSince(r: Recorder, since: number): number {
  const last = new Map<number, string>();
  let drops = 0;
  for (const [t, i, s] of r.changes) {
    if (t > since && last.get(i) === 'established' && s !== 'established') drops++;
    last.set(i, s);
  }
  return drops;
}

test('bgp/bird+bfd: BIRD restarts → sessions come back and stay up (no reset loop)', { skip: skipReason('bird') }, async (t) => {
  const rec = recorder();
  const l = await BgpLab.create({ tag: 'rrbird', nodes: NODES, router: 'bird', bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 }, metrics: rec.sink });
  t.after(() => l.destroy());
  await l.waitEstablished();
  for (const n of l.nodes) await n.speaker.setAdvertisements([ad(VIP)]);
  await l.waitNexthops(VIP, NODES);

  const t0 = Date.now();
  await l.restartBird(2000);
  await l.waitEstablished(60_000);
  await l.waitNexthops(VIP, NODES, 60_000);
  // Up is not enough: the loop brings a session up and resets it at once. Wait for BIRD's
  // BFD to be up to every node, then for a quiet window.
  await waitFor('BIRD BFD up to every node', async () => ((await l.bird!.bfdSessions()).filter((s) => s.state === 'Up').length === NODES ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 200,
  });
  const back = Date.now();
  t.diagnostic(`back after ${back - t0} ms; drops so far ${dropsSince(rec, t0)}; repairs ${JSON.stringify(rec.repairs)}`);
  await new Promise((r) => setTimeout(r, STABLE_MS));
  const drops = dropsSince(rec, back);
  t.diagnostic(`drops in the ${STABLE_MS} ms after: ${drops}; repairs ${JSON.stringify(rec.repairs)}`);
  assert.equal(drops, 0, `sessions reset ${drops} times in the ${STABLE_MS} ms after they came back`);
  assert.equal((await l.fibNexthops(VIP)).length, NODES);
  for (const n of l.nodes) {
    const [p] = await n.client.listPeer();
    assert.equal(p?.state?.session_state, 'SESSION_STATE_ESTABLISHED');
    assert.equal(p?.state?.bfd_state?.session_state, 'BFD_SESSION_STATE_UP');
  }
});
