// Make sure the demo checkpoints exist (public/demo/{base,chat,cp}); runs before `npm start`.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const marker = fileURLToPath(new URL('../public/demo/cp/model.safetensors', import.meta.url));

if (!existsSync(marker)) {
  console.log('ensure-demo: writing the demo checkpoints to public/demo …');
  execFileSync('npx', ['tsx', 'scripts/make-fixtures.ts', '--demo'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
}
