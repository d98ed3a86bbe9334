'use strict';

const { test } = require('uvu');
const assert = require('uvu/assert');
const { toSlug } = require('../src/slug');

test('lowercases and joins words with dashes', () => {
  assert.is(toSlug('Hello World'), 'hello-world');
});

test('drops punctuation', () => {
  assert.is(toSlug('Rust & Node: a tale!'), 'rust-and-node-a-tale');
});

test('transliterates accents', () => {
  assert.is(toSlug('Crème brûlée'), 'creme-brulee');
});

test('cuts long titles without a trailing dash', () => {
  const slug = toSlug('one two three four', 8);
  assert.is(slug, 'one-two');
});

test.run();
