'use strict';

const http = require('node:http');
const { toSlug } = require('./src/slug');

const port = Number(process.env.PORT || 8080);

http
  .createServer((request, response) => {
    const title = new URL(request.url, 'http://localhost').searchParams.get('title') || '';
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ title, slug: toSlug(title) }) + '\n');
  })
  .listen(port, () => {
    console.log(`slug-api listening on port ${port} (Node.js ${process.version})`);
  });
