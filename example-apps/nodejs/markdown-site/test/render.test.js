import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderPage } from '../lib/render.js';

test('renders headings and emphasis', () => {
  const html = renderPage('# Title\n\nsome *text*\n');
  assert.match(html, /<h1>Title<\/h1>/);
  assert.match(html, /<em>text<\/em>/);
});

test('wraps the body in a complete page', () => {
  const html = renderPage('x', 'My site');
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /<title>My site<\/title>/);
});
