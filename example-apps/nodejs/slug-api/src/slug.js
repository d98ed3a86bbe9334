'use strict';

const slugify = require('slugify');

/** A lowercase URL slug for `title`, at most `maxLength` characters, never ending in `-`. */
function toSlug(title, maxLength = 60) {
  const slug = slugify(String(title), { lower: true, strict: true });
  return slug.slice(0, maxLength).replace(/-+$/, '');
}

module.exports = { toSlug };
