import { KernelVm } from '../../rig/kernel-vm.js';
const script = String.raw`
set -uo pipefail
ipvsadm -A -t 10.0.0.100:80 -s rr
ipvsadm -a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1
ipvsadm -a -t 10.0.0.100:80 -r 10.0.0.12:8080 -m -w 0
ipvsadm -A -u 10.0.0.101:53 -s wlc -p 300
ipvsadm -a -u 10.0.0.101:53 -r 10.0.0.11:53 -i -w 3
ipvsadm -A --sctp-service 10.0.0.102:9000 -s sh -b sh-fallback,sh-port
ipvsadm -A -t 10.0.0.200:80 -s mh -b mh-fallback,mh-port
ipvsadm -a -t 10.0.0.200:80 -r 10.0.0.11:80 -i -w 1
ipvsadm -A -t [2001:db8::10]:443 -s mh -b mh-port -p 60
ipvsadm -a -t [2001:db8::10]:443 -r [2001:db8::1]:443 -g -w 1
ipvsadm -A -f 7 -s rr
ipvsadm -a -f 7 -r 10.0.0.11:0 -g -w 1
echo '--- S'
ipvsadm -Sn
echo '--- L'
ipvsadm -Ln
echo '--- R'
printf '%s\n' '-e -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 5' '-E -t 10.0.0.101:53 -s rr' | ipvsadm -R; echo rc=$?
ipvsadm -Sn
echo '--- sysctl'
ls /proc/sys/net/ipv4/vs/
`;
const vm = new KernelVm();
const res = await vm.run(script, { timeoutMs: 300_000 });
console.log(res.stdout); console.error(res.stderr); console.log('exit', res.exitCode, JSON.stringify(res.timings));
