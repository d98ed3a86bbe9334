import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { renderPage } from '../lib/render.js';

const markdown = readFileSync(new URL('../content/index.md', import.meta.url), 'utf8');
mkdirSync(new URL('../public/', import.meta.url), { recursive: true });
writeFileSync(new URL('../public/index.html', import.meta.url), renderPage(markdown));
console.log(`built public/index.html (NODE_ENV=${process.env.NODE_ENV})`);
