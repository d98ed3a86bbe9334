'use strict';

const assert = require('node:assert/strict');
const { greet } = require('../lib/greet');

describe('greet', () => {
  it('greets by name', () => {
    assert.equal(greet('Ada'), 'Hello, Ada!');
  });

  it('greets the world without a name', () => {
    assert.equal(greet(''), 'Hello, world!');
    assert.equal(greet(undefined), 'Hello, world!');
  });

  it('escapes HTML in names', () => {
    assert.equal(greet('<b>Bob</b>'), 'Hello, &lt;b&gt;Bob&lt;/b&gt;!');
  });

  it('runs with NODE_ENV=test in a test image', () => {
    assert.equal(process.env.NODE_ENV, 'test');
  });
});
