// pictures.js: a question's picture on both pages, and the console's upload
// control (issue 18, "Pictures"). Loaded after common.js; exposes QWPictures:
//   QWPictures.show(figure, image, alt)  puts the picture with id `image`
//     (from question_open or the snapshot) in the <figure> under the
//     question, alt text `alt` (image_alt, else the question text); a
//     missing or malformed id hides the figure. The <img> asks
//     /img/<id>, which the browser caches for good (the id is the hash of
//     the bytes), so a picture is fetched once per browser.
//   QWPictures.upload(file) -> {image, mime, width, height}: sends the file
//     as the body of POST /admin/api/images (its own type: image/png,
//     image/jpeg or image/webp); throws an Error whose message is the
//     server's when refused (not a picture, too large, ...).
//   QWPictures.control({onUploaded}) -> an element: a "Picture" file input
//     with its status line and a preview; after an upload it calls
//     onUploaded({image, mime, width, height}). The quiz editor puts one
//     beside each question (its marked hook) and stores `image` in the
//     question; the console's setup screen shows one on its own.
// Ids and texts are set as attributes and textContent only.
'use strict';

const QWPictures = (() => {
  const ID = /^[0-9a-f]{64}$/;
  const TYPES = ['image/png', 'image/jpeg', 'image/webp'];

  function show(figure, image, alt) {
    if (!figure) return;
    const img = figure.querySelector('img');
    if (typeof image !== 'string' || !ID.test(image)) {
      figure.hidden = true;
      if (img) img.removeAttribute('src');
      return;
    }
    const tag = img || document.createElement('img');
    tag.alt = typeof alt === 'string' && alt ? alt : '';
    tag.decoding = 'async';
    const src = '/img/' + image;
    if (tag.getAttribute('src') !== src) tag.setAttribute('src', src);
    if (!img) figure.append(tag);
    figure.hidden = false;
  }

  async function upload(file) {
    if (!file || TYPES.indexOf(file.type) < 0) throw new Error('Pick a PNG, JPEG or WebP picture.');
    let res;
    try {
      res = await fetch('/admin/api/images', {
        method: 'POST', credentials: 'same-origin', headers: { 'content-type': file.type }, body: file,
      });
    } catch (e) {
      throw new Error('The server cannot be reached. Check the network and try again.');
    }
    let json = null;
    try { json = await res.json(); } catch (e) { /* not JSON */ }
    if (res.ok && json && ID.test(json.image)) return json;
    if (res.status === 413) throw new Error((json && json.message) || 'The picture is too large.');
    throw new Error((json && json.message) || 'The picture was refused (' + res.status + ').');
  }

  let seq = 0;
  function control(opts = {}) {
    const n = ++seq;
    const box = document.createElement('div');
    box.className = 'picture-control';
    const label = document.createElement('label');
    label.htmlFor = 'picture-file-' + n;
    label.textContent = opts.label || 'Picture (PNG, JPEG or WebP)';
    const input = document.createElement('input');
    input.type = 'file';
    input.id = 'picture-file-' + n;
    input.accept = TYPES.join(',');
    const status = document.createElement('p');
    status.className = 'picture-status muted';
    status.setAttribute('role', 'status');
    const figure = document.createElement('figure');
    figure.className = 'q-figure picture-preview';
    figure.hidden = true;
    box.append(label, input, status, figure);
    input.addEventListener('change', async () => {
      const file = input.files && input.files[0];
      if (!file) return;
      status.className = 'picture-status muted';
      status.textContent = 'Uploading ' + file.name + '…';
      try {
        const r = await upload(file);
        status.textContent = 'Stored: ' + r.width + ' × ' + r.height + ' ' + r.mime.replace('image/', '').toUpperCase() +
          ', id ' + r.image;
        box.dataset.image = r.image;
        show(figure, r.image, file.name);
        if (typeof opts.onUploaded === 'function') opts.onUploaded(r);
      } catch (e) {
        status.className = 'picture-status error';
        status.textContent = e.message;
      }
    });
    return box;
  }

  return { show, upload, control };
})();
