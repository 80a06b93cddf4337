// Check that the built-in demo models (public/demo/{base,chat,cp}, trained by training/train_demo.py and committed
// to git) are all there; runs before `npm start` and the e2e tests. It never writes them: they are trained, not generated.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DEMO_FILES = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
const demoDir = fileURLToPath(new URL('../public/demo', import.meta.url));

const missing = ['base', 'chat', 'cp'].flatMap((role) => DEMO_FILES.map((name) => `${role}/${name}`)).filter((file) => !existsSync(`${demoDir}/${file}`));
if (missing.length > 0) {
  console.error(
    `ensure-demo: public/demo is missing ${missing.join(', ')}.\n` +
      'The demo models are committed to git: restore them with `git checkout -- public/demo`,\n' +
      'or train them again with `nice -n 19 /usr/bin/python3 training/train_demo.py` (about 20 minutes; see training/README.md).',
  );
  process.exit(1);
}
