/** A stand-in worker process for the pool tests: it stays up but never reports its boot. */
const keepAlive = setInterval(() => {}, 60_000);
process.on("disconnect", () => clearInterval(keepAlive));
