/* global process, console */
// Lab "pod" UDP responder: answers every datagram with the pod's name and the client address
// it came from (as pod-responder.sh does for TCP). One process, no fork per datagram: socat's
// UDP-RECVFROM with fork lets a finishing child read the next datagram and drop it.
import dgram from 'node:dgram';

const port = Number(process.argv[2]);
const pod = process.env.BGPVS_POD ?? 'pod';
const socket = dgram.createSocket('udp4');
socket.on('message', (_msg, from) => socket.send(`${pod} ${from.address}\n`, from.port, from.address));
socket.on('error', (err) => {
  console.error(`udp responder ${pod}:${port}: ${err.message}`);
  process.exit(1);
});
socket.bind(port);
