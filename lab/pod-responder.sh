#!/bin/sh
# Lab "pod" responder, run by socat for each connection: answers with the pod's name and the
# client address socat saw, so tests can tell which backend answered and whether the client's
# source IP was kept. With BGPVS_HOLD=1 it then keeps the connection open and echoes every
# byte back (long-lived flows for restart, failover and ECMP-churn tests).
echo "$BGPVS_POD $SOCAT_PEERADDR"
if [ "${BGPVS_HOLD:-}" = 1 ]; then exec cat; fi
