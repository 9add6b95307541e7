/** Reading a text/event-stream (SSE) response body, for the test client and the bench. */

/**
 * Hands each event's data (its `data:` lines joined) to `onData`, with the
 * time its bytes reached this process; returning true stops reading.
 */
export async function readEventStream(body: AsyncIterable<Uint8Array>, onData: (data: string, receivedAt: number) => boolean | void): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    const receivedAt = performance.now();
    buffer += decoder.decode(chunk, { stream: true });
    let boundary: number;
    while ((boundary = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      const data = frame
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim())
        .join('\n');
      if (data && onData(data, receivedAt) === true) return;
    }
  }
}
