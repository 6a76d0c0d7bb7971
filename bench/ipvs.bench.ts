/**
 * IPVS data-plane figures alone (bench:dataplane includes them): measured in the VM, 1,000
 * services × 10 real servers, then one endpoint change. Times include what a pass does:
 * ipvsadm -Sn + -Ln, parse, diff, ipvsadm -R.
 * Last line: {"ipvs_services":1000,"ipvs_full_apply_ms":…,"ipvs_incremental_ms":…}
 * Run as root: node --import tsx bench/ipvs.bench.ts [services]
 */
import { ipvsFigures } from './ipvs-figures.js';

const figures = await ipvsFigures(Number(process.argv[2] ?? 1000));
if (figures) console.log(JSON.stringify({ ipvs_services: figures.ipvs_services, ipvs_full_apply_ms: figures.ipvs_full_apply_ms, ipvs_incremental_ms: figures.ipvs_incremental_ms, ...figures }));
