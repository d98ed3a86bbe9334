'use strict';

const http = require('node:http');
const { grossCents } = require('./price');

const port = Number(process.env.PORT || 8080);

http
  .createServer((request, response) => {
    const url = new URL(request.url, 'http://localhost');
    const net = Number(url.searchParams.get('net') || 0);
    response.end(`${grossCents(net, 19)}\n`);
  })
  .listen(port, () => console.log(`failing-tests listening on port ${port}`));
