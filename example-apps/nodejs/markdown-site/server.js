import { readFileSync } from 'node:fs';
import http from 'node:http';
import escapeHtml from 'escape-html';

const port = Number(process.env.PORT || 8080);
const page = readFileSync(new URL('./public/index.html', import.meta.url), 'utf8');

http
  .createServer((request, response) => {
    const { pathname } = new URL(request.url, 'http://localhost');
    if (pathname === '/') {
      response.setHeader('content-type', 'text/html; charset=utf-8');
      response.end(page);
    } else {
      response.statusCode = 404;
      response.end(`<p>No page at ${escapeHtml(pathname)}</p>\n`);
    }
  })
  .listen(port, () => {
    console.log(`markdown-site listening on port ${port} (NODE_ENV=${process.env.NODE_ENV})`);
  });
