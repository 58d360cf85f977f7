package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// The journal makes a turn durable before the context file is synced.
// Each batch of the writer is one record appended to context.db.journal
// with a single write: the exact puts and deletes it makes, values
// already sealed (the journal holds nothing the file would not). Once
// write returns, the record is in the kernel's hands and survives the
// process (kill -9); the batches are then applied to the file in one
// synced transaction every Options.FlushInterval (100ms), and the journal
// is emptied.
// Opening the file replays whatever a crash left in the journal, in
// order; every operation is a blind put or delete, so replaying records
// the file already holds changes nothing. A record cut short or damaged
// (power lost mid-write) ends the replay: nothing after it was complete.
//
//	record: length (uint32 BE) | crc32c of payload (uint32 BE) | payload
//	payload: operations, each
//	    1 byte op ('p' put, 'c' clear a thread's items)
//	    1 byte bucket ('t' threads, 'i' items; 'i' for clear)
//	    uvarint key length, key, and for a put: uvarint value length, value

const (
	journalSuffix  = ".journal"
	applyingSuffix = ".journal.applying"

	opPut   = 'p'
	opClear = 'c'
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ops is a batch's operations, encoded as the journal holds them.
type ops struct {
	buf []byte
	n   int
}

func (o *ops) put(bucket byte, k, v []byte) {
	o.buf = append(o.buf, opPut, bucket)
	o.buf = binary.AppendUvarint(o.buf, uint64(len(k)))
	o.buf = append(o.buf, k...)
	o.buf = binary.AppendUvarint(o.buf, uint64(len(v)))
	o.buf = append(o.buf, v...)
	o.n++
}

func (o *ops) clear(tid []byte) {
	o.buf = append(o.buf, opClear, 'i')
	o.buf = binary.AppendUvarint(o.buf, uint64(len(tid)))
	o.buf = append(o.buf, tid...)
	o.n++
}

// record frames the operations for the journal.
func (o *ops) record() []byte {
	rec := make([]byte, 8, 8+len(o.buf))
	binary.BigEndian.PutUint32(rec, uint32(len(o.buf)))
	binary.BigEndian.PutUint32(rec[4:], crc32.Checksum(o.buf, crcTable))
	return append(rec, o.buf...)
}

var errBadOp = errors.New("malformed journal operation")

// applyOps applies encoded operations to the file in tx.
func applyOps(tx *bolt.Tx, payload []byte) error {
	for len(payload) > 0 {
		if len(payload) < 2 {
			return errBadOp
		}
		op, bucket := payload[0], payload[1]
		payload = payload[2:]
		k, rest, ok := lenPrefixed(payload)
		if !ok {
			return errBadOp
		}
		payload = rest
		var b *bolt.Bucket
		switch bucket {
		case 't':
			b = tx.Bucket(bucketThreads)
		case 'i':
			b = tx.Bucket(bucketItems)
		default:
			return errBadOp
		}
		switch op {
		case opPut:
			v, rest, ok := lenPrefixed(payload)
			if !ok {
				return errBadOp
			}
			payload = rest
			if err := b.Put(k, v); err != nil {
				return err
			}
		case opClear:
			if err := deletePrefix(b, append(append([]byte{}, k...), '/')); err != nil {
				return err
			}
		default:
			return errBadOp
		}
	}
	return nil
}

func lenPrefixed(b []byte) (v, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return nil, nil, false
	}
	return b[w : w+int(n)], b[w+int(n):], true
}

// readJournal returns the payloads of a journal file's complete records,
// in order, and whether it ended in a record cut short or damaged. A
// missing file has none.
func readJournal(path string) (payloads [][]byte, torn bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	for len(data) > 0 {
		if len(data) < 8 {
			return payloads, true, nil
		}
		n := binary.BigEndian.Uint32(data)
		sum := binary.BigEndian.Uint32(data[4:])
		if uint64(len(data)-8) < uint64(n) || crc32.Checksum(data[8:8+n], crcTable) != sum {
			return payloads, true, nil
		}
		payloads = append(payloads, data[8:8+n])
		data = data[8+n:]
	}
	return payloads, false, nil
}

// replayJournals applies what a crash left in the journals (the one being
// applied first, then the current one) in one synced transaction, then
// removes them. It reports how many records it applied.
func replayJournals(update func(func(*bolt.Tx) error) error, path string) (int, error) {
	var all [][]byte
	for _, p := range []string{path + applyingSuffix, path + journalSuffix} {
		payloads, _, err := readJournal(p)
		if err != nil {
			return 0, fmt.Errorf("read the journal %s: %w", p, err)
		}
		all = append(all, payloads...)
	}
	if len(all) > 0 {
		err := update(func(tx *bolt.Tx) error {
			for _, p := range all {
				if err := applyOps(tx, p); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("replay the journal %s: %w", path+journalSuffix, err)
		}
	}
	for _, p := range []string{path + applyingSuffix, path + journalSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return len(all), err
		}
	}
	return len(all), nil
}

// journal is the open journal file.
type journal struct {
	path string
	f    *os.File
	size int64
}

func openJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path+journalSuffix, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the journal: %w", err)
	}
	return &journal{path: path, f: f}, nil
}

// append writes one record with one write: once it returns, the record
// survives the process.
func (j *journal) append(rec []byte) error {
	n, err := j.f.Write(rec)
	j.size += int64(n)
	if err == nil && n < len(rec) {
		err = io.ErrShortWrite
	}
	if err != nil {
		// A partial record would end the replay there; cut it off so the
		// next record is not lost behind it.
		if terr := j.f.Truncate(j.size - int64(n)); terr == nil {
			j.size -= int64(n)
		}
		return fmt.Errorf("write the journal: %w", err)
	}
	return nil
}

// rotate moves the journal aside (to be applied) and starts a new one.
func (j *journal) rotate() error {
	if err := j.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(j.path+journalSuffix, j.path+applyingSuffix); err != nil {
		return fmt.Errorf("move the journal aside: %w", err)
	}
	nj, err := openJournal(j.path)
	if err != nil {
		return err
	}
	*j = *nj
	return nil
}

func (j *journal) close(remove bool) error {
	err := j.f.Close()
	if remove {
		if rerr := os.Remove(j.path + journalSuffix); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}
