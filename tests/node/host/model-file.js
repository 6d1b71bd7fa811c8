// wollama:engine/model-file for Node: the guest reads GGUF metadata through `read`.
import { openSync, readSync, fstatSync } from 'node:fs';

export class File {
  constructor(path) {
    this.fd = openSync(path, 'r');
    this.bytes = fstatSync(this.fd).size;
  }
  size() {
    return BigInt(this.bytes);
  }
  read(offset, len) {
    const start = Number(offset);
    const n = Math.max(0, Math.min(len, this.bytes - start));
    const buf = new Uint8Array(n);
    let done = 0;
    while (done < n) done += readSync(this.fd, buf, done, n - done, start + done);
    return buf;
  }
}
