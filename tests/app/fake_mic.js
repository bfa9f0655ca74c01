// A microphone the test can speak into: getUserMedia returns a WebAudio stream that is silent until the test
// calls window.__fakeMic.say(base64Wav), which plays that WAV into it once (resolves when it has played).
// Chromium's --use-file-for-fake-audio-capture loops one file forever from launch; these tests need to choose
// what is said and when (e.g. speak again in the middle of a long answer).
(() => {
  const state = { ctx: null, destinations: [] };

  async function context() {
    if (!state.ctx) {
      state.ctx = new AudioContext({ sampleRate: 48000 });
    }
    if (state.ctx.state === "suspended") {
      await state.ctx.resume();
    }
    return state.ctx;
  }

  navigator.mediaDevices.getUserMedia = async () => {
    const ctx = await context();
    const dest = ctx.createMediaStreamDestination();
    state.destinations.push(dest);
    return dest.stream;
  };

  window.__fakeMic = {
    async say(base64Wav) {
      const ctx = await context();
      const bytes = Uint8Array.from(atob(base64Wav), (c) => c.charCodeAt(0));
      const buffer = await ctx.decodeAudioData(bytes.buffer);
      const source = ctx.createBufferSource();
      source.buffer = buffer;
      const live = state.destinations.filter((d) => d.stream.getAudioTracks().some((t) => t.readyState === "live"));
      if (!live.length) {
        throw new Error("the microphone is not on");
      }
      live.forEach((d) => source.connect(d));
      const done = new Promise((resolve) => (source.onended = resolve));
      source.start();
      await done;
      return buffer.duration;
    },
  };
})();
