/**
 * Zero-copy typed arrays: sendArray() sends a JSON header {"dtype":"<f8","shape":[...]} and the
 * array's bytes in their own frame (pyzmq's send_array recipe, so numpy peers read it too);
 * receiveArray() returns a typed array viewing the received frame, with no copy.
 * Run: npm run build && node dist/examples/05-typed-arrays.js
 */
import { Pull, Push } from "../src/index.js";

await using pull = new Pull();
await using push = new Push();
push.connect(await pull.bind("tcp://127.0.0.1:*"));

// A 3x4 matrix of float64 and a vector of int32.
const matrix = Float64Array.from({ length: 12 }, (_, i) => i / 4);
await push.sendArray(matrix, { shape: [3, 4] });
await push.sendArray(new Int32Array([7, -7, 70000]));

const first = await pull.receiveArray({ timeout: 5000 });
console.log(`received ${first.dtype} with shape [${first.shape.join(", ")}]`);
for (let row = 0; row < 3; row++) console.log(`  ${[...first.data.subarray(row * 4, row * 4 + 4)].join(" ")}`);

const second = await pull.receiveArray({ timeout: 5000 });
console.log(`received ${second.dtype} ${second.data.constructor.name} [${[...second.data].join(", ")}]`);
console.log(`zero-copy: the array starts at byte ${second.data.byteOffset} of its own frame buffer`);
