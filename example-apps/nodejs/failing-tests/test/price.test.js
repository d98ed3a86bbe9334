'use strict';

const assert = require('node:assert/strict');
const { grossCents } = require('../price');

describe('grossCents', () => {
  it('adds VAT to whole amounts', () => {
    assert.equal(grossCents(10000, 19), 11900);
  });

  it('rounds to the nearest cent', () => {
    // 999 * 1.19 = 1188.81 -> 1189; the implementation truncates to 1188.
    assert.equal(grossCents(999, 19), 1189);
  });
});
