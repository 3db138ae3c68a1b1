// smal4v mesh-sequence viewer: plain WebGL2, no dependencies, nothing fetched.
// Reads the JSON in <script id="smal4v-data"> (written by smal4v/report/viewer.py): faces and,
// per variant, every (shown) frame's display vertices quantised to uint16 (camera frame: x right, y down,
// z forward). Draws one viewport per variant, plays the frames at the video's rate and turns
// all views together with the mouse (drag: orbit, wheel: zoom, double click: reset).
// window.smal4vViewer exposes frame/play/pause/setFrame for scripted use (the tests use it).
(function () {
  "use strict";

  function decodeBase64(text) {
    const raw = atob(text);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function perspective(fovy, aspect, near, far) {
    const f = 1 / Math.tan(fovy / 2), nf = 1 / (near - far);
    return [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) * nf, -1, 0, 0, 2 * far * near * nf, 0];
  }

  function multiply(a, b) { // column-major 4x4: a * b
    const out = new Array(16).fill(0);
    for (let c = 0; c < 4; c++)
      for (let r = 0; r < 4; r++)
        for (let k = 0; k < 4; k++) out[c * 4 + r] += a[k * 4 + r] * b[c * 4 + k];
    return out;
  }

  function orbitView(azimuth, elevation, distance) { // camera on a sphere around the origin
    const ca = Math.cos(azimuth), sa = Math.sin(azimuth), ce = Math.cos(elevation), se = Math.sin(elevation);
    const eye = [distance * ce * sa, distance * se, distance * ce * ca];
    const z = eye.map((v) => v / distance);
    const x = [z[2], 0, -z[0]];
    const xl = Math.hypot(x[0], x[2]) || 1;
    x[0] /= xl; x[2] /= xl;
    const y = [z[1] * x[2] - z[2] * x[1], z[2] * x[0] - z[0] * x[2], z[0] * x[1] - z[1] * x[0]];
    const dot = (u) => -(u[0] * eye[0] + u[1] * eye[1] + u[2] * eye[2]);
    return [x[0], y[0], z[0], 0, x[1], y[1], z[1], 0, x[2], y[2], z[2], 0, dot(x), dot(y), dot(z), 1];
  }

  const VERTEX = `#version 300 es
    in vec3 q;
    uniform vec3 lo, step, centre;
    uniform float scale;
    uniform mat4 viewProj;
    out vec3 world;
    void main() {
      vec3 cam = lo + q * 65535.0 * step;           // dequantise (q is normalised uint16)
      world = vec3(1.0, -1.0, -1.0) * (cam - centre) * scale;  // camera frame -> y up, z to viewer
      gl_Position = viewProj * vec4(world, 1.0);
    }`;
  const FRAGMENT = `#version 300 es
    precision highp float;
    in vec3 world;
    uniform vec3 colour;
    out vec4 outColour;
    void main() {
      vec3 n = normalize(cross(dFdx(world), dFdy(world)));   // flat shading, no normals needed
      float light = 0.35 + 0.65 * abs(dot(n, normalize(vec3(0.3, 0.6, 1.0))));
      outColour = vec4(colour * light, 1.0);
    }`;

  function compile(gl, type, source) {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
    return shader;
  }

  function program(gl) {
    const p = gl.createProgram();
    gl.attachShader(p, compile(gl, gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(p, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT));
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
    return p;
  }

  function start() {
    const data = JSON.parse(document.getElementById("smal4v-data").textContent);
    const canvas = document.getElementById("smal4v-canvas");
    const gl = canvas.getContext("webgl2", { antialias: true, preserveDrawingBuffer: true });
    if (!gl) {
      document.getElementById("smal4v-status").textContent = "This browser has no WebGL2: the 3D viewer cannot run.";
      return;
    }
    const prog = program(gl);
    const loc = (name) => gl.getUniformLocation(prog, name);
    const vao = gl.createVertexArray();
    gl.bindVertexArray(vao);
    const faces = new Uint32Array(decodeBase64(data.faces).buffer);
    const indexBuffer = gl.createBuffer();
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, indexBuffer);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, faces, gl.STATIC_DRAW);
    const variants = data.variants.map((v) => {
      const buffer = gl.createBuffer();
      gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
      gl.bufferData(gl.ARRAY_BUFFER, decodeBase64(v.positions), gl.STATIC_DRAW);
      return Object.assign({ buffer: buffer }, v);
    });
    const qLoc = gl.getAttribLocation(prog, "q");
    gl.enableVertexAttribArray(qLoc);
    const labels = document.getElementById("smal4v-labels");
    variants.forEach((v) => {
      const label = document.createElement("div");
      label.className = "smal4v-label";
      label.textContent = v.name;
      labels.appendChild(label);
      v.label = label;
    });

    const view = { azimuth: 0, elevation: 0.25, distance: 2.0 };
    const state = { frame: 0, playing: true, time: 0, last: null };
    const slider = document.getElementById("smal4v-slider");
    const counter = document.getElementById("smal4v-frame");
    const button = document.getElementById("smal4v-play");
    slider.max = String(data.frames - 1);

    function layout() {
      const cols = Math.min(variants.length, 3), rows = Math.ceil(variants.length / cols);
      const width = canvas.clientWidth;  // views 5:4, the whole grid within the window height
      const height = Math.round(Math.min(width / cols * rows * 0.8, Math.max(240, window.innerHeight - 90)));
      canvas.style.height = height + "px";
      const dpr = window.devicePixelRatio || 1;
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      variants.forEach((v, k) => {
        const c = k % cols, r = Math.floor(k / cols);
        v.viewport = [Math.round(c * canvas.width / cols), Math.round((rows - 1 - r) * canvas.height / rows),
                      Math.round(canvas.width / cols), Math.round(canvas.height / rows)];
        v.label.style.left = (100 * c / cols) + "%";
        v.label.style.top = (100 * r / rows) + "%";
      });
    }

    function draw() {
      gl.enable(gl.DEPTH_TEST);
      gl.enable(gl.SCISSOR_TEST);
      gl.useProgram(prog);
      const bytesPerFrame = data.vertices * 3 * 2;
      variants.forEach((v) => {
        const [x, y, w, h] = v.viewport;
        gl.viewport(x, y, w, h);
        gl.scissor(x, y, w, h);
        gl.clearColor(0.96, 0.96, 0.96, 1);
        gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
        const viewProj = multiply(perspective(0.7, w / h, 0.05, 50), orbitView(view.azimuth, view.elevation, view.distance));
        gl.uniformMatrix4fv(loc("viewProj"), false, viewProj);
        gl.uniform3fv(loc("lo"), v.lo);
        gl.uniform3fv(loc("step"), v.step);
        gl.uniform3fv(loc("centre"), v.centre);
        gl.uniform1f(loc("scale"), v.scale);
        gl.uniform3fv(loc("colour"), v.colour);
        gl.bindBuffer(gl.ARRAY_BUFFER, v.buffer);
        gl.vertexAttribPointer(qLoc, 3, gl.UNSIGNED_SHORT, true, 0, state.frame * bytesPerFrame);
        gl.drawElements(gl.TRIANGLES, faces.length, gl.UNSIGNED_INT, 0);
      });
      slider.value = String(state.frame);
      counter.textContent = `frame ${state.frame * data.frame_step + 1} / ${data.video_frames}`;
    }

    function tick(now) {
      if (state.playing && state.last !== null) {
        state.time += (now - state.last) / 1000;
        state.frame = Math.floor(state.time * data.fps) % data.frames;
      }
      state.last = now;
      draw();
      window.requestAnimationFrame(tick);
    }

    function setFrame(i) {
      state.frame = ((Math.round(i) % data.frames) + data.frames) % data.frames;
      state.time = state.frame / data.fps;
      draw();
    }
    function setPlaying(playing) {
      state.playing = playing;
      button.textContent = playing ? "pause" : "play";
    }
    button.addEventListener("click", () => setPlaying(!state.playing));
    slider.addEventListener("input", () => { setPlaying(false); setFrame(Number(slider.value)); });

    let drag = null;
    canvas.addEventListener("pointerdown", (e) => { drag = [e.clientX, e.clientY]; canvas.setPointerCapture(e.pointerId); });
    canvas.addEventListener("pointerup", () => { drag = null; });
    canvas.addEventListener("pointermove", (e) => {
      if (!drag) return;
      view.azimuth -= (e.clientX - drag[0]) * 0.01;
      view.elevation = Math.max(-1.5, Math.min(1.5, view.elevation + (e.clientY - drag[1]) * 0.01));
      drag = [e.clientX, e.clientY];
    });
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      view.distance = Math.max(0.8, Math.min(12, view.distance * Math.exp(e.deltaY * 0.001)));
    }, { passive: false });
    canvas.addEventListener("dblclick", () => Object.assign(view, { azimuth: 0, elevation: 0.25, distance: 2.0 }));
    window.addEventListener("resize", layout);

    layout();
    window.smal4vViewer = {
      frames: data.frames,
      variants: variants.map((v) => v.name),
      get frame() { return state.frame; },
      play: () => setPlaying(true),
      pause: () => setPlaying(false),
      setFrame: setFrame,
      orbit: (azimuth, elevation) => { view.azimuth = azimuth; view.elevation = elevation; draw(); },
    };
    window.requestAnimationFrame(tick);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
