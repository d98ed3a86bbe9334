import { marked } from 'marked';

/** A complete HTML page from a Markdown document. */
export function renderPage(markdown, title = 'markdown-site') {
  const body = marked.parse(markdown);
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${title}</title></head>
<body>
${body}</body>
</html>
`;
}
