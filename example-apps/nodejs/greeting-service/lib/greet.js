'use strict';

const escapeHtml = require('escape-html');

/** The greeting for `name`, safe to embed in HTML. */
function greet(name) {
  const who = typeof name === 'string' && name.trim() !== '' ? name.trim() : 'world';
  return `Hello, ${escapeHtml(who)}!`;
}

module.exports = { greet };
