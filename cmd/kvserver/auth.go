package main

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/raftkv/raftkv/api"
	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/config"
)

// apiAuth is the API's side of config.json's auth object; nil when off.
func apiAuth(cfg *config.Config) *api.AuthOptions {
	a := cfg.Auth
	if !a.Enabled() {
		return nil
	}
	return &api.AuthOptions{Tokens: a.Tokens, NodeToken: a.NodeToken, ProtectMetrics: a.ProtectMetrics, ProtectUI: a.ProtectUI}
}

// nodeClientOptions are what a node's own client calls (joining, recording
// its incarnation, asking peers) carry: its token, when tokens are on.
func nodeClientOptions(cfg *config.Config) []client.Option {
	if !cfg.Auth.Enabled() {
		return nil
	}
	return []client.Option{client.WithToken(cfg.Auth.NodeToken)}
}

// warnIfOpen warns, loudly, when the API serves without tokens on an
// address other machines may reach: anyone there can read, write, back up
// and reconfigure the cluster.
func warnIfOpen(cfg *config.Config, httpAddr string, logger *slog.Logger) {
	if cfg.Auth.Enabled() || isLoopback(httpAddr) {
		return
	}
	logger.Warn("!!! THE API IS OPEN TO ANYONE WHO CAN REACH "+httpAddr+": no auth.tokens_file in the config, "+
		"so every request may read, write, back up and reconfigure the cluster. Set auth (README: Security) "+
		"or serve on a loopback address", "http", httpAddr)
}

// isLoopback reports whether host:port names this machine only.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func apiServers(nodes []*node) []*api.Server {
	out := make([]*api.Server, len(nodes))
	for i, n := range nodes {
		out[i] = n.api
	}
	return out
}

// reloadTokensOnHUP rereads the tokens file into every server on SIGHUP,
// until ctx ends. A file that does not load keeps the old tokens: a typo
// must not lock everyone out (nor let everyone in). The node token, the
// switches and turning tokens on or off take a restart.
func reloadTokensOnHUP(ctx context.Context, cfg *config.Config, servers []*api.Server, logger *slog.Logger) {
	if !cfg.Auth.Enabled() {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			tokens, err := cfg.LoadTokens()
			if err != nil {
				logger.Error("SIGHUP: tokens not reloaded; the previous ones stay in force", "err", err)
				continue
			}
			for _, s := range servers {
				s.SetTokens(tokens)
			}
			logger.Info("SIGHUP: tokens reloaded", "file", cfg.TokensPath(), "tokens", len(tokens))
		}
	}()
}
