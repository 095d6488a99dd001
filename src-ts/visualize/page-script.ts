/**
 * The script of the attention page, as text: plain ES2017 with no imports, run inline (the page's
 * Content-Security-Policy allows nothing else). It reads the JSON island #bk-data and draws the
 * head view and the model view on canvases, so a 512-token input stays a few thousand DOM nodes.
 * Written without template literals so that it can live in this String.raw literal.
 */
export const PAGE_SCRIPT = String.raw`
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('bk-data').textContent);
  var L = D.length, NL = D.layers, NH = D.heads;
  var A = decode(document.getElementById('bk-attention').textContent, D.precision);
  var RAMP = D.ramp; // 256 RGB triples, index = round(sqrt(p) * 255)
  var DPR = window.devicePixelRatio || 1;

  function decode(b64, precision) {
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var k = 0; k < bin.length; k++) bytes[k] = bin.charCodeAt(k);
    if (precision === 'float32') return new Float32Array(bytes.buffer);
    var q = new Uint16Array(bytes.buffer);
    var out = new Float32Array(q.length);
    for (var m = 0; m < q.length; m++) out[m] = q[m] / 65535;
    return out;
  }
  function att(l, h, i, j) { return A[((l * NH + h) * L + i) * L + j]; }
  function fmt(p) { return p.toFixed(4); }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; }); }
  function rampIdx(p) { return Math.round(Math.sqrt(p > 0 ? (p < 1 ? p : 1) : 0) * 255) * 3; }
  function rampCss(p) { var k = rampIdx(p); return 'rgb(' + RAMP[k] + ',' + RAMP[k + 1] + ',' + RAMP[k + 2] + ')'; }
  function $(id) { return document.getElementById(id); }
  function sizeCanvas(c, w, h) {
    c.style.width = w + 'px'; c.style.height = h + 'px';
    c.width = Math.round(w * DPR); c.height = Math.round(h * DPR);
    var ctx = c.getContext('2d');
    ctx.setTransform(DPR, 0, 0, DPR, 0, 0);
    return ctx;
  }
  function label(i) { return D.tokens[i]; }

  // ---------------------------------------------------------------- head view
  var hv = { layer: 0, heads: [], focus: null, locked: false };
  for (var h0 = 0; h0 < NH; h0++) hv.heads.push(true);
  var ROW = 16, TOP = 8, TEXTW = 150, GAP = 220;
  var hvCanvas = $('hv-canvas');
  var hvCtx = null;

  function hvEnabled() { var a = []; for (var h = 0; h < NH; h++) if (hv.heads[h]) a.push(h); return a; }

  function drawHeadView() {
    var W = TEXTW * 2 + GAP, H = TOP * 2 + L * ROW;
    if (!hvCtx) hvCtx = sizeCanvas(hvCanvas, W, H);
    var ctx = hvCtx;
    ctx.clearRect(0, 0, W, H);
    var heads = hvEnabled();
    var x0 = TEXTW + 4, x1 = TEXTW + GAP - 4;
    var f = hv.focus;
    ctx.lineWidth = 2;
    // Without a focus, lines below 2% are left out past 64 tokens: 512 x 512 x heads lines would not draw in time.
    var floor = (f === null && L > 64) ? 0.02 : 0;
    for (var n = 0; n < heads.length; n++) {
      var h = heads[n];
      ctx.strokeStyle = D.headColors[h % D.headColors.length];
      for (var i = 0; i < L; i++) {
        if (f && f.side === 'left' && f.index !== i) continue;
        for (var j = 0; j < L; j++) {
          if (f && f.side === 'right' && f.index !== j) continue;
          var p = att(hv.layer, h, i, j);
          if (p <= floor) continue;
          ctx.globalAlpha = Math.min(1, p * (f ? 1 : 0.8));
          ctx.beginPath();
          ctx.moveTo(x0, TOP + i * ROW + ROW / 2);
          ctx.lineTo(x1, TOP + j * ROW + ROW / 2);
          ctx.stroke();
        }
      }
    }
    ctx.globalAlpha = 1;
    ctx.font = '12px DejaVu Sans, Arial, sans-serif';
    ctx.textBaseline = 'middle';
    for (var t = 0; t < L; t++) {
      var y = TOP + t * ROW + ROW / 2;
      var hiL = f && f.side === 'left' && f.index === t, hiR = f && f.side === 'right' && f.index === t;
      if (hiL || hiR) {
        ctx.fillStyle = '#fde68a';
        ctx.fillRect(hiL ? 0 : TEXTW + GAP, y - ROW / 2, TEXTW, ROW);
      }
      ctx.fillStyle = D.special[t] ? '#b91c1c' : (D.typeIds[t] ? '#1d4ed8' : '#111');
      ctx.textAlign = 'right';
      ctx.fillText(label(t), TEXTW, y);
      ctx.textAlign = 'left';
      ctx.fillText(label(t), TEXTW + GAP, y);
    }
    if (D.segmentBoundary !== null) {
      ctx.strokeStyle = '#9ca3af'; ctx.setLineDash([4, 3]); ctx.lineWidth = 1;
      var yb = TOP + D.segmentBoundary * ROW;
      ctx.beginPath(); ctx.moveTo(0, yb); ctx.lineTo(TEXTW, yb); ctx.moveTo(TEXTW + GAP, yb); ctx.lineTo(W, yb); ctx.stroke();
      ctx.setLineDash([]);
    }
    hvCanvas.setAttribute('data-layer', String(hv.layer));
    renderHeadDetail();
  }

  // The detail table draws only the rows in its scroll window (plus a margin): 512 tokens x 12
  // heads would be 6,000 cells to lay out on every hover.
  var DROW = 20, OVERSCAN = 15, VIEWH = Math.min(640, (L + 1) * DROW + 4);
  function renderHeadDetail() {
    var el = $('hv-detail');
    var f = hv.focus;
    var heads = hvEnabled();
    if (!f) {
      el.innerHTML = '<p class="hint">Hover a token (left: what it attends to; right: what attends to it); click to keep it.</p>';
      el.removeAttribute('data-side'); el.removeAttribute('data-index');
      return;
    }
    var scroller = $('hv-scroll');
    var top = scroller ? scroller.scrollTop : 0;
    var from = f.side === 'left';
    var parts = ['<p><b>' + esc(label(f.index)) + '</b> (token ' + f.index + ') ' + (from ? 'attends to' : 'is attended by') +
      ', layer ' + hv.layer + (hv.locked ? ' <span class="lock">(kept: click again to release)</span>' : '') + '</p>',
      '<div id="hv-scroll" style="max-height:' + VIEWH + 'px"><table class="num"><thead><tr><th>#</th><th>token</th>'];
    for (var n = 0; n < heads.length; n++) parts.push('<th><span class="sw" style="background:' + D.headColors[heads[n] % D.headColors.length] + '"></span>h' + heads[n] + '</th>');
    parts.push('</tr></thead><tbody></tbody></table></div>');
    el.innerHTML = parts.join('');
    el.setAttribute('data-side', f.side);
    el.setAttribute('data-index', String(f.index));
    el.setAttribute('data-layer', String(hv.layer));
    scroller = $('hv-scroll');
    scroller.scrollTop = top;
    renderDetailRows();
    scroller.addEventListener('scroll', function () {
      if (rowsScheduled) return;
      rowsScheduled = true;
      requestAnimationFrame(function () { rowsScheduled = false; renderDetailRows(); });
    });
  }
  var rowsScheduled = false;
  function renderDetailRows() {
    var scroller = $('hv-scroll');
    var f = hv.focus;
    if (!scroller || !f) return;
    var heads = hvEnabled();
    var from = f.side === 'left';
    var first = Math.max(0, Math.floor(scroller.scrollTop / DROW) - OVERSCAN);
    // An empty table has no height yet: the window is the height the scroller will have.
    var last = Math.min(L, Math.ceil((scroller.scrollTop + Math.max(scroller.clientHeight, VIEWH)) / DROW) + OVERSCAN);
    var cols = heads.length + 2;
    var parts = [first > 0 ? '<tr class="pad" style="height:' + first * DROW + 'px"><td colspan="' + cols + '"></td></tr>' : ''];
    for (var k = first; k < last; k++) {
      parts.push('<tr data-other="' + k + '"><td>' + k + '</td><td class="t">' + esc(label(k)) + '</td>');
      for (var m = 0; m < heads.length; m++) {
        var p = from ? att(hv.layer, heads[m], f.index, k) : att(hv.layer, heads[m], k, f.index);
        parts.push('<td data-head="' + heads[m] + '" style="background:' + rampCss(p) + (p > 0.3 ? ';color:#fff' : '') + '">' + fmt(p) + '</td>');
      }
      parts.push('</tr>');
    }
    if (last < L) parts.push('<tr class="pad" style="height:' + (L - last) * DROW + 'px"><td colspan="' + cols + '"></td></tr>');
    scroller.querySelector('tbody').innerHTML = parts.join('');
  }

  function hvHit(ev) {
    var r = hvCanvas.getBoundingClientRect();
    var x = ev.clientX - r.left, y = ev.clientY - r.top;
    var i = Math.floor((y - TOP) / ROW);
    if (i < 0 || i >= L) return null;
    if (x <= TEXTW) return { side: 'left', index: i };
    if (x >= TEXTW + GAP) return { side: 'right', index: i };
    return null;
  }
  function same(a, b) { return a === b || (a !== null && b !== null && a.side === b.side && a.index === b.index); }
  // Moves are coalesced into one redraw per frame.
  var hvScheduled = false, hvNext = null;
  hvCanvas.addEventListener('mousemove', function (ev) {
    if (hv.locked) return;
    hvNext = hvHit(ev);
    if (hvScheduled) return;
    hvScheduled = true;
    requestAnimationFrame(function () {
      hvScheduled = false;
      if (hv.locked || same(hvNext, hv.focus)) return;
      hv.focus = hvNext;
      drawHeadView();
    });
  });
  hvCanvas.addEventListener('mouseleave', function () { if (!hv.locked && hv.focus) { hv.focus = null; drawHeadView(); } });
  hvCanvas.addEventListener('click', function (ev) {
    var hit = hvHit(ev);
    if (hv.locked && (!hit || (hv.focus && hit.side === hv.focus.side && hit.index === hv.focus.index))) { hv.locked = false; hv.focus = hit; }
    else if (hit) { hv.locked = true; hv.focus = hit; }
    drawHeadView();
  });
  $('hv-layer').addEventListener('change', function (ev) { hv.layer = Number(ev.target.value); drawHeadView(); });
  var toggles = document.querySelectorAll('#hv-heads input[data-head]');
  for (var q = 0; q < toggles.length; q++) {
    toggles[q].addEventListener('change', function (ev) { hv.heads[Number(ev.target.getAttribute('data-head'))] = ev.target.checked; drawHeadView(); });
  }
  function setAll(on) {
    for (var k = 0; k < toggles.length; k++) toggles[k].checked = on;
    for (var h = 0; h < NH; h++) hv.heads[h] = on;
    drawHeadView();
  }
  $('hv-all').addEventListener('click', function () { setAll(true); });
  $('hv-none').addEventListener('click', function () { setAll(false); });

  // ---------------------------------------------------------------- model view
  var THUMB = Math.max(48, Math.min(96, L * 4));
  var mv = { layer: null, head: null };
  var scratch = document.createElement('canvas');
  scratch.width = L; scratch.height = L;
  var sctx = scratch.getContext('2d');

  function paintMap(l, h) {
    var img = sctx.createImageData(L, L);
    var px = img.data;
    for (var i = 0; i < L; i++) for (var j = 0; j < L; j++) {
      var k = rampIdx(att(l, h, i, j)), o = (i * L + j) * 4;
      px[o] = RAMP[k]; px[o + 1] = RAMP[k + 1]; px[o + 2] = RAMP[k + 2]; px[o + 3] = 255;
    }
    sctx.putImageData(img, 0, 0);
  }

  var cells = document.querySelectorAll('#mv-grid canvas.mv-cell');
  var next = 0;
  function drawSomeCells() {
    var until = Math.min(cells.length, next + 8);
    for (; next < until; next++) {
      var c = cells[next];
      var ctx = sizeCanvas(c, THUMB, THUMB);
      paintMap(Number(c.getAttribute('data-layer')), Number(c.getAttribute('data-head')));
      ctx.imageSmoothingEnabled = L > THUMB;
      ctx.imageSmoothingQuality = 'high';
      ctx.drawImage(scratch, 0, 0, THUMB, THUMB);
    }
    if (next < cells.length) requestAnimationFrame(drawSomeCells);
    else document.body.setAttribute('data-ready', '1');
  }

  var big = $('mv-big');
  var bigGeom = null;
  function openCell(l, h) {
    mv.layer = l; mv.head = h;
    for (var k = 0; k < cells.length; k++) {
      var c = cells[k];
      c.classList.toggle('sel', Number(c.getAttribute('data-layer')) === l && Number(c.getAttribute('data-head')) === h);
    }
    // At least 2 px a token: a 1 px cell cannot be hit reliably with a mouse on a fractional layout.
    var cell = Math.max(2, Math.min(36, Math.floor(900 / L)));
    var labels = cell >= 8;
    var lab = labels ? 110 : 0;
    var size = cell * L;
    var W = lab + size + 8, H = lab + size + 8;
    var ctx = sizeCanvas(big, W, H);
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, W, H);
    paintMap(l, h);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(scratch, lab, lab, size, size);
    ctx.fillStyle = '#111';
    ctx.font = Math.min(12, cell - 2) + 'px DejaVu Sans, Arial, sans-serif';
    if (labels) {
      ctx.textBaseline = 'middle';
      for (var i = 0; i < L; i++) {
        ctx.fillStyle = D.special[i] ? '#b91c1c' : (D.typeIds[i] ? '#1d4ed8' : '#111');
        ctx.textAlign = 'right';
        ctx.fillText(label(i), lab - 4, lab + i * cell + cell / 2);
        ctx.save(); ctx.translate(lab + i * cell + cell / 2, lab - 4); ctx.rotate(-Math.PI / 2);
        ctx.textAlign = 'left'; ctx.fillText(label(i), 0, 0); ctx.restore();
      }
    }
    if (cell >= 30) {
      ctx.font = '9px DejaVu Sans, Arial, sans-serif'; ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
      for (var a = 0; a < L; a++) for (var b = 0; b < L; b++) {
        var p = att(l, h, a, b);
        ctx.fillStyle = p > 0.3 ? '#fff' : '#111';
        ctx.fillText(p.toFixed(2), lab + b * cell + cell / 2, lab + a * cell + cell / 2);
      }
    }
    if (D.segmentBoundary !== null) {
      var b = D.segmentBoundary * cell;
      ctx.strokeStyle = '#dc2626'; ctx.lineWidth = 1; ctx.setLineDash([4, 3]);
      ctx.beginPath(); ctx.moveTo(lab, lab + b); ctx.lineTo(lab + size, lab + b); ctx.moveTo(lab + b, lab); ctx.lineTo(lab + b, lab + size); ctx.stroke();
      ctx.setLineDash([]);
    }
    bigGeom = { x: lab, y: lab, cell: cell };
    big.setAttribute('data-layer', String(l)); big.setAttribute('data-head', String(h));
    big.setAttribute('data-origin-x', String(lab)); big.setAttribute('data-origin-y', String(lab)); big.setAttribute('data-cell', String(cell));
    $('mv-title').textContent = 'Layer ' + l + ', head ' + h + ': row = the attending token, column = the token attended to';
    $('mv-detail').hidden = false;
    setReadout(null);
  }
  function setReadout(ij) {
    var el = $('mv-readout');
    if (!ij) { el.textContent = 'Hover the map for values.'; el.removeAttribute('data-i'); el.removeAttribute('data-j'); el.removeAttribute('data-value'); return; }
    var p = att(mv.layer, mv.head, ij[0], ij[1]);
    el.innerHTML = '<b>' + esc(label(ij[0])) + '</b> (' + ij[0] + ') → <b>' + esc(label(ij[1])) + '</b> (' + ij[1] + '): <span class="v">' + fmt(p) + '</span>';
    el.setAttribute('data-i', String(ij[0])); el.setAttribute('data-j', String(ij[1])); el.setAttribute('data-value', fmt(p));
  }
  big.addEventListener('mousemove', function (ev) {
    if (!bigGeom) return;
    var r = big.getBoundingClientRect();
    var j = Math.floor((ev.clientX - r.left - bigGeom.x) / bigGeom.cell), i = Math.floor((ev.clientY - r.top - bigGeom.y) / bigGeom.cell);
    setReadout(i >= 0 && i < L && j >= 0 && j < L ? [i, j] : null);
  });
  $('mv-grid').addEventListener('click', function (ev) {
    var c = ev.target.closest('canvas.mv-cell');
    if (c) openCell(Number(c.getAttribute('data-layer')), Number(c.getAttribute('data-head')));
  });
  $('mv-grid').addEventListener('keydown', function (ev) {
    var c = ev.target.closest('canvas.mv-cell');
    if (c && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); openCell(Number(c.getAttribute('data-layer')), Number(c.getAttribute('data-head'))); }
  });

  // ---------------------------------------------------------------- rollout
  $('ro-from').addEventListener('change', function (ev) {
    var v = ev.target.value === 'mean' ? D.rolloutMean : D.rolloutFirst;
    var max = 0;
    for (var k = 0; k < v.length; k++) if (v[k] > max) max = v[k];
    var rows = document.querySelectorAll('#rollout .rb');
    for (var r = 0; r < rows.length; r++) {
      var cell = rows[r].querySelector('.v');
      cell.style.setProperty('--w', (max > 0 ? (100 * v[r] / max) : 0).toFixed(2) + '%');
      cell.textContent = fmt(v[r]);
    }
  });

  drawHeadView();
  drawSomeCells();
})();
`;
