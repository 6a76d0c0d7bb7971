#!/bin/sh
# Lab "pod" responder, run by socat for each connection: answers with the pod's name and the
# client address socat saw, so tests can tell which backend answered and whether the client's
# source IP was kept.
echo "$BGPVS_POD $SOCAT_PEERADDR"
