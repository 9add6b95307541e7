/**
 * User data for the guest, cloud-init style: the job's command, environment
 * and working directory as a shell script, and the VM's marker nonce, packed
 * as a cpio archive (newc) that is appended to the image's initrd. The kernel
 * unpacks every archive of a concatenated initrd over the one before, so the
 * guest's /init finds /switchyard/job.sh with no drivers and no disk: under
 * TCG this is the one path that needs nothing but the kernel itself (a virtio
 * disk or 9p share needs modules a busybox initramfs does not carry, and the
 * kernel command line holds 2 KiB). Pure.
 */

/** What the guest runs: a command, or none for a long-lived VM (a shell on its console). */
export interface UserData {
  nonce: string;
  command: readonly string[] | null;
  env: Readonly<Record<string, string>>;
  workingDir: string | null;
  /** The guest's hostname (the VM's name); the kernel's "(none)" when absent. */
  hostname?: string;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why the user data cannot be given to the guest, or null when it can. */
export function userDataProblem(data: Pick<UserData, 'command' | 'env' | 'workingDir'>): string | null {
  const bad = Object.keys(data.env).find((name) => !ENV_NAME.test(name));
  if (bad !== undefined) return `environment variable name ${JSON.stringify(bad)} is not a shell name`;
  if (data.command && data.command.length === 0) return 'the command is empty';
  if (data.workingDir !== null && !data.workingDir.startsWith('/')) return `the working directory ${data.workingDir} is not absolute`;
  return null;
}

/** A word the shell reads back exactly. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The script the guest runs: the environment, the working directory (made when missing), then the command in its place. */
export function jobScript(data: UserData): string | null {
  if (!data.command) return null;
  const lines = Object.entries(data.env).map(([name, value]) => `export ${name}=${shellQuote(value)}`);
  if (data.workingDir !== null) lines.push(`mkdir -p ${shellQuote(data.workingDir)} && cd ${shellQuote(data.workingDir)} || exit 126`);
  lines.push(`exec ${data.command.map(shellQuote).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

interface CpioEntry {
  name: string;
  mode: number;
  data: Buffer;
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** One newc header and its name, padded. */
function newcHeader(entry: CpioEntry, ino: number): Buffer {
  const name = Buffer.from(`${entry.name}\0`);
  const fields = [ino, entry.mode, 0, 0, 1, 0, entry.data.length, 0, 0, 0, 0, name.length, 0];
  const header = `070701${fields.map((n) => n.toString(16).padStart(8, '0')).join('')}`;
  return Buffer.concat([Buffer.from(header), name, Buffer.alloc(pad4(110 + name.length))]);
}

/** A cpio archive (newc, the initramfs format) of the given entries. */
export function cpioArchive(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((entry, index) => {
    parts.push(newcHeader(entry, index + 1), entry.data, Buffer.alloc(pad4(entry.data.length)));
  });
  parts.push(newcHeader({ name: 'TRAILER!!!', mode: 0, data: Buffer.alloc(0) }, 0));
  const archive = Buffer.concat(parts);
  // The kernel reads archives in 512-byte blocks; pad the last one.
  return Buffer.concat([archive, Buffer.alloc((512 - (archive.length % 512)) % 512)]);
}

/** The archive of the guest's user data, to append to the image's initrd. */
export function userDataArchive(data: UserData): Buffer {
  const entries: CpioEntry[] = [
    { name: 'switchyard', mode: 0o040755, data: Buffer.alloc(0) },
    { name: 'switchyard/nonce', mode: 0o100644, data: Buffer.from(`${data.nonce}\n`) },
  ];
  if (data.hostname !== undefined) entries.push({ name: 'switchyard/hostname', mode: 0o100644, data: Buffer.from(`${data.hostname}\n`) });
  const script = jobScript(data);
  if (script !== null) entries.push({ name: 'switchyard/job.sh', mode: 0o100755, data: Buffer.from(script) });
  return cpioArchive(entries);
}
