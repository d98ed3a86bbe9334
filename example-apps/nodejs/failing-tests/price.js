'use strict';

/** The gross price in cents for a net price in cents and a VAT rate in percent. */
function grossCents(netCents, vatPercent) {
  // Bug (on purpose): truncates instead of rounding to the nearest cent.
  return Math.floor(netCents * (1 + vatPercent / 100));
}

module.exports = { grossCents };
