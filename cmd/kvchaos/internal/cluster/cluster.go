package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/cmd/kvchaos/internal/proxy"
)

// Link is the directed link From→To: the traffic From sends To (Raft
// messages and forwarded writes).
type Link struct{ From, To uint64 }

func (l Link) String() string { return fmt.Sprintf("%d→%d", l.From, l.To) }

// linkProxies are the two proxies of one directed link.
type linkProxies struct {
	raft *proxy.Proxy // From's ZeroMQ sends to To's inbox
	http *proxy.Proxy // From's forwarded writes to To's API
}

// Options configure a cluster.
type Options struct {
	Nodes  int
	Bin    string // the kvserver binary
	Dir    string // configs, data and logs go here
	Timing Timing // zero: DefaultTiming
	Logger *slog.Logger
}

// Exit is a node process ending that the harness did not cause.
type Exit struct {
	Node uint64
	At   time.Time
	Err  string // the wait error, e.g. "exit status 1"
}

// Cluster is a running cluster. Its methods are safe for concurrent use.
type Cluster struct {
	bin      string
	dir      string
	timing   Timing
	log      *slog.Logger
	ids      []uint64
	raftAddr map[uint64]string // real bind addresses, host:port
	httpAddr map[uint64]string
	links    map[Link]linkProxies
	cfgPath  map[uint64]string
	status   *client.Client

	mu     sync.Mutex // guards procs, exits and closed
	procs  map[uint64]*proc
	exits  []Exit
	closed bool
}

// proc is one running kvserver process.
type proc struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed once the process has been waited for
	killed bool          // the harness killed it; its exit is expected
	paused bool
}

// Start picks ports, starts the link proxies, writes one config per node
// and starts every node.
func Start(opts Options) (c *Cluster, err error) {
	if opts.Nodes < 1 {
		return nil, fmt.Errorf("cluster: %d nodes", opts.Nodes)
	}
	if opts.Timing == (Timing{}) {
		opts.Timing = DefaultTiming
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// Only Status is used, which names its endpoint; the one given here is
	// never dialled.
	st, err := client.New([]string{"127.0.0.1:1"}, time.Second)
	if err != nil {
		return nil, err
	}
	c = &Cluster{bin: opts.Bin, dir: opts.Dir, timing: opts.Timing, log: opts.Logger, status: st,
		raftAddr: map[uint64]string{}, httpAddr: map[uint64]string{}, links: map[Link]linkProxies{},
		cfgPath: map[uint64]string{}, procs: map[uint64]*proc{}}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	ports, err := freePorts(2 * opts.Nodes)
	if err != nil {
		return c, err
	}
	for i := range opts.Nodes {
		id := uint64(i)
		c.ids = append(c.ids, id)
		c.raftAddr[id], c.httpAddr[id] = ports[2*i], ports[2*i+1]
	}
	for _, from := range c.ids {
		for _, to := range c.ids {
			if from == to {
				continue
			}
			l := Link{from, to}
			rp, err := proxy.Listen("127.0.0.1:0", c.raftAddr[to], c.log.With("link", l.String(), "proto", "raft"))
			if err != nil {
				return c, err
			}
			hp, err := proxy.Listen("127.0.0.1:0", c.httpAddr[to], c.log.With("link", l.String(), "proto", "http"))
			if err != nil {
				rp.Close()
				return c, err
			}
			c.links[l] = linkProxies{raft: rp, http: hp}
		}
	}
	if err := os.MkdirAll(filepath.Join(c.dir, "logs"), 0o755); err != nil {
		return c, fmt.Errorf("create log dir: %w", err)
	}
	for _, id := range c.ids {
		if c.cfgPath[id], err = c.writeConfig(id); err != nil {
			return c, err
		}
	}
	for _, id := range c.ids {
		if err := c.Restart(id); err != nil {
			return c, err
		}
	}
	return c, nil
}

// IDs are the node ids, in order.
func (c *Cluster) IDs() []uint64 { return append([]uint64(nil), c.ids...) }

// HTTPAddr is node id's real API address (clients talk to it directly).
func (c *Cluster) HTTPAddr(id uint64) string { return c.httpAddr[id] }

// LogPath is where node id's output goes.
func (c *Cluster) LogPath(id uint64) string {
	return filepath.Join(c.dir, "logs", fmt.Sprintf("node-%d.log", id))
}

// Restart starts node id if it is not running.
func (c *Cluster) Restart(id uint64) error { return c.start(id) }

// start runs node id's kvserver with extra flags (--join ...).
func (c *Cluster) start(id uint64, extra ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("cluster: closed")
	}
	if _, running := c.procs[id]; running {
		return nil
	}
	logf, err := os.OpenFile(c.LogPath(id), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open log of node %d: %w", id, err)
	}
	defer logf.Close() // the child has its own copy
	fmt.Fprintf(logf, "=== kvchaos: starting node %d at %s\n", id, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.bin, append([]string{"--config", c.cfgPath[id], "--node-id", fmt.Sprint(id)}, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C at the terminal interrupts the
	// harness, which then heals and checks; the nodes must not see it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start node %d: %w", id, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	c.procs[id] = p
	go c.wait(id, p)
	return nil
}

// wait reaps p and records its exit unless the harness caused it.
func (c *Cluster) wait(id uint64, p *proc) {
	err := p.cmd.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	close(p.done)
	if c.procs[id] == p {
		delete(c.procs, id)
	}
	if !p.killed {
		msg := "exit status 0"
		if err != nil {
			msg = err.Error()
		}
		c.exits = append(c.exits, Exit{Node: id, At: time.Now(), Err: msg})
		c.log.Error("node exited on its own", "node", id, "err", msg, "log", c.LogPath(id))
	}
}

// Kill sends SIGKILL to node id (paused or not) and waits for it to die.
func (c *Cluster) Kill(id uint64) {
	c.mu.Lock()
	p, ok := c.procs[id]
	if ok {
		p.killed = true
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
	c.mu.Unlock()
	if ok {
		<-p.done
	}
}

// Pause stops node id with SIGSTOP; it keeps its sockets but runs no code.
func (c *Cluster) Pause(id uint64) { c.signal(id, syscall.SIGSTOP, true) }

// Resume continues a paused node with SIGCONT.
func (c *Cluster) Resume(id uint64) { c.signal(id, syscall.SIGCONT, false) }

func (c *Cluster) signal(id uint64, sig syscall.Signal, paused bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.procs[id]; ok {
		p.cmd.Process.Signal(sig)
		p.paused = paused
	}
}

// Pid returns node id's process id, or 0 when it is not running.
func (c *Cluster) Pid(id uint64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.procs[id]; ok {
		return p.cmd.Process.Pid
	}
	return 0
}

// Running reports the nodes that run and are not paused.
func (c *Cluster) Running() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []uint64
	for id, p := range c.procs {
		if !p.paused {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Exits returns the node exits the harness did not cause.
func (c *Cluster) Exits() []Exit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Exit(nil), c.exits...)
}

// SetLink sets the mode of both proxies of link l.
func (c *Cluster) SetLink(l Link, m proxy.Mode) {
	lp, ok := c.links[l]
	if !ok {
		return
	}
	lp.raft.SetMode(m)
	lp.http.SetMode(m)
}

// HealLinks sets every link to pass.
func (c *Cluster) HealLinks() {
	for l := range c.links {
		c.SetLink(l, proxy.Pass)
	}
}

// Discarded sums the bytes black holes have thrown away.
func (c *Cluster) Discarded() int64 {
	var n int64
	for _, lp := range c.links {
		n += lp.raft.Discarded() + lp.http.Discarded()
	}
	return n
}

// HealAll resumes paused nodes, restarts dead ones and heals every link.
func (c *Cluster) HealAll() error {
	c.HealLinks()
	var errs []error
	for _, id := range c.ids {
		c.Resume(id)
		if err := c.Restart(id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close kills every node and stops the proxies. The directory stays.
func (c *Cluster) Close() {
	c.mu.Lock()
	c.closed = true
	ids := make([]uint64, 0, len(c.procs))
	for id := range c.procs {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.Kill(id)
	}
	for _, lp := range c.links {
		lp.raft.Close()
		lp.http.Close()
	}
	c.status.Close()
}

// Status asks node id for its status.
func (c *Cluster) Status(ctx context.Context, id uint64) (client.Status, error) {
	return c.status.Status(ctx, c.httpAddr[id])
}
