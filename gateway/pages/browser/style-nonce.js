/**
 * Stamps the page's style nonce on every <style> element made from now on, before it is inserted:
 * xterm.js makes some, and the Content-Security-Policy admits only those carrying the nonce
 * (session-pages.ts). Imported first, so it runs before any library makes one.
 */
const nonce = document.querySelector('meta[name="switchyard-style-nonce"]')?.getAttribute('content') ?? '';
const createElement = Document.prototype.createElement;
Document.prototype.createElement = function (tagName, options) {
  const element = createElement.call(this, tagName, options);
  if (nonce && String(tagName).toLowerCase() === 'style') element.setAttribute('nonce', nonce);
  return element;
};
