interface Call<In, Out> {
  input: In;
  resolve(output: Out): void;
  reject(error: unknown): void;
}

/**
 * Makes a statement over many inputs callable one input at a time, so that a worker's
 * concurrent jobs share one statement (one parse, plan, round trip and commit) instead of
 * paying for one each: that was most of a message's cost.
 *
 * One batch is in flight at a time; the calls made meanwhile wait and go together in the
 * next. A call made while none is in flight goes out on the next turn of the event loop,
 * with the calls of that turn, so a lone job waits for nobody.
 *
 * `runMany` answers each input at the same index. Should a batch fail, each of its calls
 * is tried on its own: one bad input cannot fail the others (a sent SMS whose record
 * failed with its neighbours' would go out again).
 */
export function batched<In, Out>(runMany: (inputs: In[]) => Promise<Out[]>, maxSize = 100): (input: In) => Promise<Out> {
  let waiting: Call<In, Out>[] = [];
  let inFlight = false;
  let scheduled = false;

  async function run(calls: Call<In, Out>[]): Promise<void> {
    try {
      const outputs = await runMany(calls.map((c) => c.input));
      calls.forEach((call, i) => call.resolve(outputs[i]!));
    } catch (error) {
      if (calls.length === 1) calls[0]!.reject(error);
      else await Promise.all(calls.map((call) => run([call])));
    }
  }

  async function flush(): Promise<void> {
    scheduled = false;
    if (inFlight || waiting.length === 0) return;
    inFlight = true;
    const calls = waiting.slice(0, maxSize);
    waiting = waiting.slice(maxSize);
    await run(calls);
    inFlight = false;
    if (waiting.length > 0) void flush();
  }

  return (input) =>
    new Promise<Out>((resolve, reject) => {
      waiting.push({ input, resolve, reject });
      if (!inFlight && !scheduled) {
        scheduled = true;
        setImmediate(() => void flush());
      }
    });
}
