/** The BGPPeer custom resource as the API serves it (daemonset/crds/bgppeer.yaml): plain types. */

export const BGPPEER_GROUP = 'bgpvs.io';
export const BGPPEER_VERSION = 'v1alpha1';
export const BGPPEER_PLURAL = 'bgppeers';

/** A BGPPeer object as the API returns it (daemonset/crds/bgppeer.yaml). */
export interface BGPPeerObject {
  metadata?: { name?: string; generation?: number; resourceVersion?: string };
  /**
   * A BGPPeerSpec (crd-schemas.generated.ts) if admission and every schema change since let it
   * be one; nothing trusted: read it only through config/peer.ts's peerFromSpec.
   */
  spec?: unknown;
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string; observedGeneration?: number }[] };
}
