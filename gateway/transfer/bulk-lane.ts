// The slow lane for bulk bytes. Large uploads can keep the event loop busy with TLS, inspection and
// encryption of chunk after chunk, and then every small request waits behind them: each of its
// steps (a decision, a record write, a journal fsync) needs a turn of the loop. The lane lets at
// most `chunksPerTurn` bulk chunks through per turn of the event loop; the others wait for the
// next turn (setImmediate, after the poll phase has served other I/O). A waiting chunk stops its
// pipeline, so backpressure reaches the sender's TCP window: bulk slows down, nothing buffers up.
// While an interactive request is in flight the lane narrows to one chunk per turn, so that bulk
// runs at full width when nobody waits behind it.
import { Transform } from 'node:stream';

export interface BulkLane {
  /** A pass-through stream whose chunks take their turn in the lane. */
  gate(): Transform;
  /** Resolves when the caller may process one more bulk chunk in this turn. */
  turn(): Promise<void>;
  /**
   * An interactive request (anything but bulk content) started; call the returned function when it
   * ends. While any is in flight, bulk gets one chunk per turn: small requests come first.
   */
  interactive(): () => void;
}

export function createBulkLane(options: { chunksPerTurn: number }): BulkLane {
  let interactiveInFlight = 0;
  const perTurn = (): number => (interactiveInFlight > 0 ? 1 : options.chunksPerTurn);
  let usedThisTurn = 0;
  const waiting: (() => void)[] = [];
  let scheduled = false;

  const nextTurn = (): void => {
    scheduled = false;
    usedThisTurn = 0;
    const admitted = waiting.splice(0, perTurn());
    usedThisTurn = admitted.length;
    for (const admit of admitted) admit();
    if (waiting.length > 0 || usedThisTurn > 0) schedule();
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(nextTurn);
  };

  const turn = (): Promise<void> => {
    if (usedThisTurn < perTurn() && waiting.length === 0) {
      usedThisTurn += 1;
      schedule();
      return Promise.resolve();
    }
    schedule();
    return new Promise((resolve) => waiting.push(resolve));
  };

  return {
    turn,
    interactive() {
      interactiveInFlight += 1;
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        interactiveInFlight -= 1;
      };
    },
    gate() {
      return new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          turn().then(() => callback(null, chunk), callback);
        },
      });
    },
  };
}

/** No lane: everything passes at once (small transfers, tests of the pass itself). */
export const NO_LANE: BulkLane = {
  gate: () => new Transform({ transform: (chunk: Buffer, _encoding, callback) => callback(null, chunk) }),
  turn: () => Promise.resolve(),
  interactive: () => () => undefined,
};

