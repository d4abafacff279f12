package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/api/client"
)

func txnCmd(a *app) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "txn [- | --file F]",
		Short: "Run a transaction (POST /v1/txn JSON from standard input or a file)",
		Long: "Run a transaction: compares, then the success or the failure branch, as one atomic write.\n" +
			"The JSON is POST /v1/txn's, for example\n" +
			`  {"compare":[{"key":"k","target":"version","op":"=","value":0}],` + "\n" +
			`   "success":[{"op":"put","key":"k","value":"v"}],"failure":[{"op":"get","key":"k"}]}` + "\n" +
			"Prints \"succeeded\" or \"failed\" with the revision, then one line per result (-o json: the\n" +
			"answer as the server gave it). Exit 0 either way: a failed compare is an answer.",
		Args: cobra.MaximumNArgs(1),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			if file == "" && (len(args) == 0 || args[0] != "-") {
				return usageErr(fmt.Errorf(`txn reads the transaction from standard input ("-") or --file F`))
			}
			body, err := a.readValue(append([]string{""}, args...), file)
			if err != nil {
				return err
			}
			if !json.Valid(body) {
				return usageErr(fmt.Errorf("the transaction is not valid JSON"))
			}
			ans, err := c.Txn(ctx, body)
			if err != nil {
				return classify(err)
			}
			return a.printTxn(ans)
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "read the transaction from file F")
	return cmd
}

func (a *app) printTxn(ans client.TxnAnswer) error {
	if a.json() {
		return writeJSON(a.stdout, ans)
	}
	outcome := "succeeded"
	if !ans.Succeeded {
		outcome = "failed"
	}
	retried := ""
	if ans.Retried {
		retried = " (a retry: the first application's results are not kept)"
	}
	if _, err := fmt.Fprintf(a.stdout, "%s revision %d%s\n", outcome, ans.Revision, retried); err != nil {
		return err
	}
	for _, r := range ans.Results {
		if _, err := fmt.Fprintf(a.stdout, "%s\n", r); err != nil {
			return err
		}
	}
	return nil
}
