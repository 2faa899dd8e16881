package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/latchkey/latchkey"
)

func runPermissionsCreate(ctx context.Context, c *cli, fs *flag.FlagSet, args []string) error {
	desc := fs.String("description", "", "what the permission allows, `D`")
	pos, done, err := parse(fs, args)
	if err != nil || done {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("permissions create: give exactly one permission NAME, e.g. messages:send")
	}
	return c.withService(func(svc *latchkey.Service) error {
		p, err := svc.CreatePermission(ctx, pos[0], *desc)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "added %s to the permission catalog; keys may now hold only catalog permissions\n", p.Name)
		_, err = fmt.Fprintln(c.stdout, p.Name)
		return err
	})
}

type permissionJSON struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"createdAt"`
}

func runPermissionsList(ctx context.Context, c *cli, fs *flag.FlagSet, args []string) error {
	asJSON := fs.Bool("json", false, "print one JSON object per line instead of a table")
	if done, err := parseNoArgs(fs, args); err != nil || done {
		return err
	}
	return c.withService(func(svc *latchkey.Service) error {
		ps, err := svc.ListPermissions(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(c.stdout)
			for _, p := range ps {
				if err := enc.Encode(permissionJSON{p.Name, p.Description, p.CreatedAt}); err != nil {
					return err
				}
			}
			return nil
		}
		if len(ps) == 0 {
			fmt.Fprintln(c.stderr, "the permission catalog is empty: keys may hold any permission")
			return nil
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tDESCRIPTION\tCREATED")
		for _, p := range ps {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, orDash(tableCell(p.Description)), p.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	})
}
