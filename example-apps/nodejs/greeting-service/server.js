'use strict';

const http = require('node:http');
const { greet } = require('./lib/greet');

const port = Number(process.env.PORT || 8080);

const server = http.createServer((request, response) => {
  const url = new URL(request.url, 'http://localhost');
  response.setHeader('content-type', 'text/html; charset=utf-8');
  response.end(`<p>${greet(url.searchParams.get('name'))}</p>\n`);
});

server.listen(port, () => {
  console.log(`greeting-service listening on port ${port} (NODE_ENV=${process.env.NODE_ENV})`);
});
