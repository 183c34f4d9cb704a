import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
async function child(args: string[]) {
  const c = spawn(process.execPath, ['--import', 'tsx', 'bench/flood-servers.ts', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: c.stdout! }), 'line')) as [string];
  return { c, line: JSON.parse(line) };
}
const up = await child(['upstream', '8', '20']);
const gw = await child(['gateway', up.line.url, 'shed']);
await (await child(['flood', gw.line.url, '200', '16', '2'])).c;
await new Promise(r=>setTimeout(r,2500));
const f = child(['flood', gw.line.url, '1600', '800', '10']);
const iv = setInterval(async () => {
  const r = await fetch(`${gw.line.url}/_bulwark/health`); const j = await r.json() as any;
  console.log(JSON.stringify({ ...j.loadShedding, shed: undefined }));
}, 1000);
await f;
clearInterval(iv); gw.c.kill(); up.c.kill();
