//+------------------------------------------------------------------+
//|                                    Tradestate/Tradestate.mqh     |
//| Reports this terminal to a Tradestate gateway (CLIENT.md is the  |
//| contract). An EA calls Init() in OnInit, OnTimer() in OnTimer,   |
//| OnTradeTransaction() in OnTradeTransaction and Deinit() in       |
//| OnDeinit; a service calls Init() and then OnTimer() in its loop  |
//| (Services/TradestateService.mq5). Strategies queue signals with  |
//| Signal(); with report_state=false a lane sends signals only.     |
//|                                                                  |
//| Per tick (timer or service loop), within tick_budget_ms:         |
//| - open the lane once the account is known (empty InstanceId);    |
//| - heartbeat every heartbeat_seconds; positions and orders polled |
//|   and reported when they change; every snapshot_seconds (and at  |
//|   each connect) a reconcile: all of them again, the closes the   |
//|   history shows, then the positions snapshot;                    |
//| - send the queue: instance, trades, signals; each kind with its  |
//|   own backoff; RESP batches stay in flight across ticks.         |
//+------------------------------------------------------------------+
#ifndef TRADESTATE_MQH
#define TRADESTATE_MQH

#include "Wire.mqh"
#include "Lane.mqh"
#include "Queue.mqh"
#include "Transport.mqh"
#include "Collect.mqh"
#include "Positions.mqh"
#include "SelfTest.mqh"
#include "Config.mqh"

//--- After a (re)connect the terminal may still be syncing positions and history: wait this long
//--- before the reconcile, so the snapshot does not list too few tickets.
#define TS_CONNECT_SETTLE_MS 3000

//--- Lane phases.
#define TS_PHASE_STOPPED 0 // not initialised, or refused to start (the reason was printed)
#define TS_PHASE_WAITING 1 // InstanceId empty and the login not known yet
#define TS_PHASE_OPEN    2

class CTradestate
  {
private:
   TsConfig          m_cfg;
   int               m_phase;
   string            m_id;
   string            m_lane;
   bool              m_auto_id;
   TsLaneLock        m_lock;
   TsQueue           m_queue;
   TsPositions       m_positions;
   TsHttp            m_http;
   TsResp            m_resp;
   TsBatch           m_batch;
   bool              m_in_flight;
   //--- sending
   ulong             m_group_not_before[TS_GROUP_COUNT];
   int               m_group_failures[TS_GROUP_COUNT];
   ulong             m_not_before;       // throttle hint, every kind
   int               m_batch_limit;
   //--- reporting
   ulong             m_next_heartbeat;
   ulong             m_next_snapshot;
   ulong             m_reconcile_at;     // 0: none due
   bool              m_was_connected;
   int               m_lookback;         // 0 to start, 1 running, 2 done
   bool              m_login_mismatch;
   //--- status
   long              m_acked;
   long              m_dead;
   string            m_last_error;
   string            m_signal_error;
   ulong             m_last_error_printed;
   ulong             m_notice_printed;
   string            m_notice_text;

   //--- Forgets everything in memory: a global object outlives OnDeinit/OnInit (account switch).
   void              Reset(void)
     {
      m_resp.Close();
      m_queue.Close();
      m_queue.Reset();
      m_positions.Reset();
      m_lock.Release();
      m_batch.Clear();
      m_in_flight=false;
      m_phase=TS_PHASE_STOPPED;
      m_id="";
      m_lane="";
      m_auto_id=false;
      for(int g=0;g<TS_GROUP_COUNT;g++)
        {
         m_group_not_before[g]=0;
         m_group_failures[g]=0;
        }
      m_not_before=0;
      m_batch_limit=1;
      m_next_heartbeat=0;
      m_next_snapshot=0;
      m_reconcile_at=0;
      m_was_connected=false;
      m_lookback=0;
      m_login_mismatch=false;
      m_acked=0;
      m_dead=0;
      m_last_error="";
      m_signal_error="";
      m_last_error_printed=0;
      m_notice_printed=0;
      m_notice_text="";
     }

   bool              Reporting(void) const { return(m_phase==TS_PHASE_OPEN && m_cfg.report_state && !m_login_mismatch); }

   //--- Prints a recurring notice: a new text at once, the same text again after every_ms.
   void              Notice(const string text,const int every_ms=60000)
     {
      ulong now=GetTickCount64();
      if(text!=m_notice_text || now-m_notice_printed>=(ulong)every_ms)
        {
         Print("Tradestate: ",text);
         m_notice_printed=now;
         m_notice_text=text;
        }
     }

   void              Report(const string error)
     {
      m_last_error=error;
      ulong now=GetTickCount64();
      if(error!="" && (m_last_error_printed==0 || now-m_last_error_printed>60000))
        {
         Print("Tradestate: ",error," (",m_queue.Count()," updates queued; retrying)");
         m_last_error_printed=now;
        }
     }

   //--- Takes the lane lock, loads its files, binds it to the login.
   bool              OpenLane(const string instance_id)
     {
      string why="";
      if(!m_lock.Take(instance_id,m_lane,why))
        {
         Print("Tradestate: ",why);
         m_phase=TS_PHASE_STOPPED;
         return(false);
        }
      if(!m_queue.Open(instance_id,m_lane,m_cfg.queue_max,why))
        {
         Print("Tradestate: lane ",instance_id,".",m_lane," cannot start: ",why);
         m_lock.Release();
         m_phase=TS_PHASE_STOPPED;
         return(false);
        }
      m_id=instance_id;
      //--- a lane (re)opened after an account switch starts afresh
      for(int g=0;g<TS_GROUP_COUNT;g++)
        {
         m_group_not_before[g]=0;
         m_group_failures[g]=0;
        }
      m_not_before=0;
      m_batch_limit=m_cfg.batch_max;
      m_in_flight=false;
      m_batch.Clear();
      m_login_mismatch=false;
      m_reconcile_at=0;
      if(m_cfg.report_state && !m_positions.Load(instance_id,m_lane,m_cfg.dst_rule))
         Print("Tradestate: the open-ticket file of ",instance_id,".",m_lane," could not be read; closes are found by the lookback only");
      m_phase=TS_PHASE_OPEN;
      m_was_connected=false;
      m_next_heartbeat=0;
      m_next_snapshot=GetTickCount64()+(ulong)m_cfg.snapshot_seconds*1000;
      m_lookback=0;
      CheckLogin();
      PrintFormat("Tradestate %s: %s as %s on lane %s, %d updates queued from before, next seq %I64d%s",
                  TS_LIBRARY_VERSION,m_cfg.report_state ? "reporting" : "sending signals",m_id,m_lane,
                  m_queue.Count(),m_queue.NextSeq(),m_cfg.report_state ? StringFormat(", %d tickets open",m_positions.Count()) : "");
      return(true);
     }

   void              CloseLane(void)
     {
      m_resp.Close();
      m_in_flight=false;
      m_batch.Clear();
      m_positions.Save();
      m_queue.Close();
      m_lock.Release();
      m_phase=TS_PHASE_STOPPED;
     }

   //--- The lane's id belongs to one login: never report another account's state under it.
   void              CheckLogin(void)
     {
      long login=AccountInfoInteger(ACCOUNT_LOGIN);
      if(login==0 || m_phase!=TS_PHASE_OPEN)
         return;
      if(m_auto_id && m_id!="mt5-"+IntegerToString(login))
        {
         //--- Another account, another id: its lane; this one's queue waits in its files.
         PrintFormat("Tradestate: the terminal switched to login %I64d; lane %s.%s closes with %d updates queued (sent when that account is back)",
                     login,m_id,m_lane,m_queue.Count());
         CloseLane();
         m_phase=TS_PHASE_WAITING;
         return;
        }
      long bound=m_queue.Login();
      if(bound==0)
        {
         m_queue.BindLogin(login);
         return;
        }
      bool mismatch=(bound!=login);
      if(mismatch && !m_login_mismatch)
         PrintFormat("Tradestate: InstanceId '%s' belongs to login %I64d (see %s.%s.seq) but the terminal is on login %I64d: "
                     "nothing of this account is reported under '%s'; the %d updates queued for login %I64d are still sent. "
                     "Give this account its own InstanceId (or leave it empty for mt5-<login>); delete that .seq file only if '%s' really moved to this account",
                     m_id,bound,m_id,m_lane,login,m_id,m_queue.Count(),bound,m_id);
      if(!mismatch && m_login_mismatch)
        {
         Print("Tradestate: back on login ",bound,": reporting as ",m_id," again");
         Resync();
        }
      m_login_mismatch=mismatch;
     }

   //--- Heartbeat now, every position and order again, the closes, a positions snapshot, and the
   //--- lookback again once the reconcile runs: a close the gateway answered spooled and dropped
   //--- later is no longer in the open-ticket file, only the history has it (CLIENT.md).
   void              Resync(void)
     {
      m_next_heartbeat=0;
      m_reconcile_at=GetTickCount64();
      m_lookback=0; // started afresh by the reconcile (a running one starts over)
     }

   void              Heartbeat(void)
     {
      TsRecord record;
      string why="";
      if(!TsBuildInstance(record,m_cfg.ea_version) || m_queue.Push(record,why)<0)
         Notice("heartbeat not queued: "+(why!="" ? why : record.error));
     }

   //--- All positions and orders again, closes from the history, then the positions snapshot.
   void              DoReconcile(void)
     {
      m_positions.Reconcile(m_queue);
      string tickets="";
      if(!m_positions.SnapshotTickets(tickets))
        {
         Notice("more than "+IntegerToString(TS_SNAPSHOT_MAX_TICKETS)+" positions and orders: no positions snapshot is sent");
         return;
        }
      TsRecord record;
      record.Start(TS_KIND_POSITIONS);
      record.Int("time_msc",TsNowMsc());
      record.Text("tickets",tickets);
      string why="";
      if(m_queue.Push(record,why)<0)
         Notice("positions snapshot not queued: "+why);
      if(m_positions.Waiting()>0)
         Notice(IntegerToString(m_positions.Waiting())+" closed ticket(s) not in the history yet; tried again at the next snapshot",300000);
     }

   void              ReportState(const ulong deadline)
     {
      ulong now=GetTickCount64();
      bool connected=(TerminalInfoInteger(TERMINAL_CONNECTED)!=0);
      if(connected && !m_was_connected)
         m_reconcile_at=now+TS_CONNECT_SETTLE_MS; // start, and every reconnect
      m_was_connected=connected;
      if(now>=m_next_heartbeat)
        {
         m_next_heartbeat=now+(ulong)m_cfg.heartbeat_seconds*1000;
         Heartbeat();
        }
      if(!connected)
         return; // the terminal's view of positions and history may be stale
      m_positions.Poll(m_queue);
      if((m_reconcile_at>0 && now>=m_reconcile_at) || (m_reconcile_at==0 && now>=m_next_snapshot))
        {
         m_reconcile_at=0;
         m_next_snapshot=now+(ulong)m_cfg.snapshot_seconds*1000;
         DoReconcile();
         if(m_lookback==0)
           {
            m_positions.StartLookback(m_cfg.close_lookback_hours);
            m_lookback=1;
           }
        }
      //--- the lookback gets half the tick at most: sending must go on meanwhile
      ulong half=MathMin(deadline,now+(ulong)m_cfg.tick_budget_ms/2);
      if(m_lookback==1 && m_positions.LookbackStep(m_queue,half))
         m_lookback=2;
     }

   void              BackOff(const int grp,const long retry_after_ms,const bool fatal)
     {
      m_group_failures[grp]++;
      long wait=fatal ? m_cfg.backoff_max_ms : TsBackoffMs(m_cfg.backoff_base_ms,m_cfg.backoff_max_ms,m_group_failures[grp]);
      m_group_not_before[grp]=GetTickCount64()+(ulong)MathMax(wait,retry_after_ms);
     }

   //--- Builds the next batch from the queue; false when nothing can be sent now.
   bool              NextBatch(void)
     {
      ulong now=GetTickCount64();
      if(now<m_not_before)
        return(false);
      bool allow[TS_GROUP_COUNT];
      for(int g=0;g<TS_GROUP_COUNT;g++)
         allow[g]=(now>=m_group_not_before[g]);
      m_batch.Clear();
      bool resp=(m_cfg.transport!=TS_TRANSPORT_HTTP);
      //--- Again when every selected line was unreadable (each pass moves at least one to .dead).
      while(m_batch.count==0)
        {
         int slots[];
         int n=m_queue.Select(allow,m_batch_limit,slots);
         if(n==0)
            return(false);
         AddToBatch(slots,n,resp);
        }
      return(true);
     }

   void              AddToBatch(const int &slots[],const int n,const bool resp)
     {
      long seqs[];
      int kinds[];
      string lines[];
      ArrayResize(seqs,n);
      ArrayResize(kinds,n);
      ArrayResize(lines,n);
      for(int i=0;i<n;i++) // copied first: Dead() below may compact the queue's slots
        {
         seqs[i]=m_queue.SeqAt(slots[i]);
         kinds[i]=m_queue.KindAt(slots[i]);
         lines[i]=m_queue.LineAt(slots[i]);
        }
      for(int i=0;i<n;i++)
        {
         if(!resp)
           {
            m_batch.Add(seqs[i],kinds[i],lines[i],"",lines[i]);
            continue;
           }
         TsRecord record;
         if(!record.FromJsonText(lines[i]))
           {
            //--- Never an empty entry: a line that does not read back goes to the dead file.
            m_queue.Dead(seqs[i],"unreadable queue line",true);
            m_dead++;
            PrintFormat("Tradestate: queued update seq %I64d does not read back (%s); moved to %s",seqs[i],record.error,m_queue.DeadPath());
            continue;
           }
         m_batch.Add(seqs[i],kinds[i],lines[i],record.RespKey(m_id),record.Resp(m_id,m_cfg.signal_stream));
        }
     }

   //--- A stale result above the update's own seq: the key holds a state of another numbering of
   //--- the instance (files lost with the clock behind, or another copy), since a lane never sends
   //--- a key's states out of order. Comparing with the next seq instead would drop the states
   //--- numbered before an earlier jump whose key holds a seq between theirs and the next.
   void              NumberedBehind(const int i)
     {
      long stored=m_batch.stored_seqs[i];
      if(stored<=m_batch.seqs[i])
         return; // not stale against another numbering: done
      PrintFormat("Tradestate: the gateway holds seq %I64d of a key of %s, above the seq %I64d sent (queue files lost, or another copy): "
                  "numbering continues above it and the state is sent again",stored,m_id,m_batch.seqs[i]);
      m_queue.JumpPast(stored);
      int kind=m_batch.kinds[i];
      if(kind!=TS_KIND_SIGNAL)
        {
         TsRecord record;
         string why="";
         if(record.FromJsonText(m_batch.lines[i]) && !m_queue.HasNewer(record.StateKey(),m_batch.seqs[i]))
            m_queue.Push(record,why);
        }
      if(m_cfg.report_state)
         Resync();
     }

   //--- renumber_above (HTTP) / the renumber push (RESP3): a state update the gateway answered
   //--- spooled was dropped when it wrote it later, its key holding seq `above` of another
   //--- numbering of this instance (a reinstall with the clock behind). The terminal was answered
   //--- already, so nothing else tells: numbering goes on above it as after a stale answer, and a
   //--- resync sends the state, the positions and orders and the lookback's closes again.
   void              Renumber(const long above)
     {
      long before=m_queue.NextSeq();
      m_queue.JumpPast(above);
      long after=m_queue.NextSeq();
      PrintFormat("Tradestate: the gateway dropped a spooled update of %s against seq %I64d of another numbering; %s%s",
                  m_id,above,
                  (after!=before) ? StringFormat("numbering continues at %I64d",after) : StringFormat("numbering is above it already (next %I64d)",after),
                  m_cfg.report_state ? ", the state, positions, orders and recent closes are sent again" : "");
      if(m_cfg.report_state)
         Resync();
     }

   //--- What became of the batch; true when sending may go on in this tick.
   bool              Finish(void)
     {
      long done[];
      int done_count=0;
      bool hit[TS_GROUP_COUNT];
      bool acked[TS_GROUP_COUNT];
      for(int g=0;g<TS_GROUP_COUNT;g++)
        {
         hit[g]=false;
         acked[g]=false;
        }
      ArrayResize(done,m_batch.count);
      for(int i=0;i<m_batch.count;i++)
        {
         int grp=TsKindGroup(m_batch.kinds[i]);
         switch(m_batch.outcomes[i])
           {
            case TS_OUT_ACK:
               done[done_count++]=m_batch.seqs[i];
               acked[grp]=true;
               m_acked++;
               if(m_batch.stored_seqs[i]>=0)
                  NumberedBehind(i);
               break;
            case TS_OUT_DEAD:
               if(m_queue.Dead(m_batch.seqs[i],m_batch.reasons[i]))
                 {
                  m_dead++;
                  PrintFormat("Tradestate: %s update seq %I64d refused for good, moved to %s: %s",
                              TsKindName(m_batch.kinds[i]),m_batch.seqs[i],m_queue.DeadPath(),m_batch.reasons[i]);
                 }
               break;
            case TS_OUT_BACKOFF:
               hit[grp]=true;
               break;
           }
        }
      m_queue.Done(done,done_count);
      //--- before the returns below: a hint read from a reply whose batch then failed still counts
      if(m_batch.renumber_above>=0)
         Renumber(m_batch.renumber_above);
      ulong now=GetTickCount64();
      if(m_batch.throttle_ms>0)
         m_not_before=now+(ulong)m_batch.throttle_ms;
      if(m_batch.split)
        {
         //--- Halve down to single updates to find the one the gateway refuses. The halved size
         //--- stays (CLIENT.md "Sending"), except after a split found the refused update.
         m_batch_limit=MathMax(1,m_batch.count/2);
         return(true);
        }
      if(m_batch.split_found)
         m_batch_limit=m_cfg.batch_max;
      if(m_batch.failed_all)
        {
         for(int g=0;g<TS_GROUP_COUNT;g++)
            BackOff(g,m_batch.retry_after_ms,m_batch.fatal);
         Report(m_batch.error);
         return(false);
        }
      bool any_hit=false;
      for(int g=0;g<TS_GROUP_COUNT;g++)
        {
         if(hit[g])
           {
            BackOff(g,m_batch.retry_after_ms,false);
            any_hit=true;
           }
         else
            if(acked[g])
               m_group_failures[g]=0;
        }
      if(any_hit)
         Report(m_batch.error);
      else
        {
         if(m_last_error!="")
            Print("Tradestate: delivering again");
         m_last_error="";
        }
      return(m_batch.throttle_ms<=0);
     }

   //--- Sends batches until the tick's budget is spent; a RESP batch may stay in flight.
   void              Send(const ulong deadline)
     {
      for(int rounds=0;rounds<64;rounds++)
        {
         if(!m_in_flight)
           {
            if(GetTickCount64()>=deadline || !NextBatch())
               return;
            m_in_flight=true;
            if(m_cfg.transport==TS_TRANSPORT_HTTP)
               m_http.Send(m_id,m_batch);
            else
               m_resp.Begin(m_id,m_cfg.token,m_batch);
           }
         if(m_cfg.transport!=TS_TRANSPORT_HTTP && !m_resp.Poll(m_batch))
            return; // replies come in later ticks
         m_in_flight=false;
         if(!Finish())
            return;
        }
     }

public:
                     CTradestate(void) { TsConfigDefaults(m_cfg); Reset(); }
                    ~CTradestate(void) { Deinit(); }

   //--- Checks the config and the self-tests, opens the lane (or waits for the login), starts
   //--- the timer. False (the reason printed) when the program should not run.
   bool              Init(const TsConfig &cfg)
     {
      Reset();
      m_cfg=cfg;
      m_cfg.heartbeat_seconds=MathMax(1,m_cfg.heartbeat_seconds);
      m_cfg.snapshot_seconds=MathMax(1,m_cfg.snapshot_seconds);
      m_cfg.batch_max=MathMax(1,MathMin(1000,m_cfg.batch_max));
      m_cfg.tick_budget_ms=MathMax(10,m_cfg.tick_budget_ms);
      m_batch_limit=m_cfg.batch_max;
      m_lane=(m_cfg.lane=="") ? TsDefaultLane() : m_cfg.lane;
      if(!TsValidLane(m_lane))
        {
         Print("Tradestate: Lane '",m_lane,"' must be 1..32 letters, digits, '_' or '-'");
         return(false);
        }
      m_auto_id=(m_cfg.instance_id=="");
      if(!m_auto_id && !TsValidInstanceId(m_cfg.instance_id))
        {
         Print("Tradestate: InstanceId '",m_cfg.instance_id,"' must be 1..64 letters, digits, '.', '_' or '-'");
         return(false);
        }
      if(m_cfg.token=="")
        {
         Print("Tradestate: set the Token input (the gateway's token for this instance)");
         return(false);
        }
      string report="";
      if(!TsSelfTest(report))
        {
         Print("Tradestate: wire self-test failed, this build would send wrong data: ",report);
         return(false);
        }
      if(!TsHistorySelfTest(report))
        {
         Print("Tradestate: history self-test failed, this build would report wrong closes: ",report);
         return(false);
        }
      m_http.url=m_cfg.url;
      StringTrimLeft(m_http.url);
      StringTrimRight(m_http.url);
      while(StringLen(m_http.url)>0 && StringGetCharacter(m_http.url,StringLen(m_http.url)-1)=='/')
         m_http.url=(StringLen(m_http.url)>1) ? StringSubstr(m_http.url,0,StringLen(m_http.url)-1) : ""; // length 0 may read to the end
      m_http.token=m_cfg.token;
      m_http.timeout_ms=m_cfg.timeout_ms;
      m_resp.host=m_cfg.resp_host;
      m_resp.port=(uint)m_cfg.resp_port;
      m_resp.tls=(m_cfg.transport==TS_TRANSPORT_RESP_TLS);
      m_resp.timeout_ms=m_cfg.timeout_ms;
      MathSrand((int)(GetTickCount()^(uint)AccountInfoInteger(ACCOUNT_LOGIN)));
      if(m_auto_id)
        {
         long login=AccountInfoInteger(ACCOUNT_LOGIN);
         if(login==0)
           {
            m_phase=TS_PHASE_WAITING;
            Print("Tradestate: waiting for the account login to name this instance mt5-<login>");
           }
         else
            if(!OpenLane("mt5-"+IntegerToString(login)))
               return(false);
        }
      else
         if(!OpenLane(m_cfg.instance_id))
            return(false);
      if(m_cfg.use_timer && !EventSetMillisecondTimer(MathMax(10,m_cfg.timer_ms)))
        {
         Print("Tradestate: EventSetMillisecondTimer failed, error ",GetLastError());
         CloseLane();
         return(false);
        }
      return(true);
     }

   void              Deinit(void)
     {
      if(m_cfg.use_timer)
         EventKillTimer();
      if(m_phase==TS_PHASE_OPEN)
         CloseLane();
      m_phase=TS_PHASE_STOPPED;
     }

   //--- One tick of work, at most tick_budget_ms of it spent starting batches.
   void              OnTimer(void)
     {
      ulong deadline=GetTickCount64()+(ulong)m_cfg.tick_budget_ms;
      if(m_phase==TS_PHASE_WAITING)
        {
         long login=AccountInfoInteger(ACCOUNT_LOGIN);
         if(login==0 || !OpenLane("mt5-"+IntegerToString(login)))
            return;
        }
      if(m_phase!=TS_PHASE_OPEN)
         return;
      CheckLogin();
      if(m_phase!=TS_PHASE_OPEN)
         return;
      if(Reporting())
         ReportState(deadline);
      Send(deadline);
     }

   //--- EA only: the ticket a transaction touched is reported at the next tick.
   void              OnTradeTransaction(const MqlTradeTransaction &trans,const MqlTradeRequest &request,const MqlTradeResult &result)
     {
      if(!Reporting())
         return;
      if(trans.position>0)
         m_positions.MarkDue(trans.position);
      if(trans.order>0)
         m_positions.MarkDue(trans.order);
     }

   //--- Queues a trade signal; EMPTY_VALUE / LONG_MIN / "" leave a field out. Returns its seq, or
   //--- -1 with the reason in LastError(). Without signal_id it is "<lane>:<seq>".
   long              Signal(const string strategy,const string symbol,const string action,
                            const double volume=EMPTY_VALUE,const double price=EMPTY_VALUE,
                            const double sl=EMPTY_VALUE,const double tp=EMPTY_VALUE,
                            const long magic=LONG_MIN,const string comment="",const string signal_id="")
     {
      m_signal_error="";
      if(m_phase!=TS_PHASE_OPEN)
         m_signal_error=(m_phase==TS_PHASE_WAITING) ? "not started: waiting for the account login" : "not started (see the Experts log)";
      else
         if(m_login_mismatch)
            m_signal_error="the terminal is on another login than InstanceId "+m_id+" belongs to";
         else
            if(!TsWordIn(action,TS_SIGNAL_ACTIONS))
               m_signal_error="action must be \"buy\", \"sell\" or \"close\", not \""+action+"\"";
            else
               if(strategy=="" || StringLen(strategy)>TS_MAX_STRING_LEN)
                  m_signal_error="strategy must be 1.."+IntegerToString(TS_MAX_STRING_LEN)+" characters";
               else
                  if(symbol=="" || StringLen(symbol)>TS_MAX_STRING_LEN)
                     m_signal_error="symbol must be 1.."+IntegerToString(TS_MAX_STRING_LEN)+" characters";
                  else
                     if(signal_id!="" && !TsValidSignalId(signal_id))
                        m_signal_error="signal_id must be 1.."+IntegerToString(TS_MAX_ID_LEN)+" of letters, digits and "+TS_SIGNAL_ID_EXTRA;
                     else
                        if(StringLen(comment)>TS_MAX_STRING_LEN)
                           m_signal_error="comment is longer than "+IntegerToString(TS_MAX_STRING_LEN)+" characters";
                        else
                           if(volume!=EMPTY_VALUE && (!MathIsValidNumber(volume) || volume<=0.0))
                              m_signal_error="volume must be a number above 0";
      if(m_signal_error!="")
         return(-1);
      TsRecord record;
      record.Start(TS_KIND_SIGNAL);
      if(signal_id!="")
         record.Text("signal_id",signal_id);
      record.Int("time_msc",TsNowMsc());
      record.Text("strategy",strategy);
      record.Text("symbol",symbol);
      record.Text("action",action);
      if(volume!=EMPTY_VALUE)
         record.Num("volume",volume);
      if(price!=EMPTY_VALUE)
         record.Num("price",price);
      if(sl!=EMPTY_VALUE)
         record.Num("sl",sl);
      if(tp!=EMPTY_VALUE)
         record.Num("tp",tp);
      if(magic!=LONG_MIN)
         record.Int("magic",magic);
      if(comment!="")
         record.Text("comment",comment);
      long seq=m_queue.Push(record,m_signal_error); // a NaN price etc. is refused here
      return(seq);
     }

   //--- Why the last Signal() returned -1 ("" when it did not).
   string            LastError(void) const { return(m_signal_error); }
   string            InstanceId(void) const { return(m_id); }
   string            Lane(void) const { return(m_lane); }
   int               Queued(void) const { return(m_queue.Count()); }

   //--- How long a service loop should sleep: short while a batch is in flight or more is due.
   int               IdleMs(void)
     {
      if(m_phase!=TS_PHASE_OPEN)
         return(MathMax(10,m_cfg.timer_ms));
      if(m_in_flight)
         return(10);
      ulong now=GetTickCount64();
      bool allow[TS_GROUP_COUNT];
      for(int g=0;g<TS_GROUP_COUNT;g++)
         allow[g]=(now>=m_group_not_before[g]);
      if(now>=m_not_before && m_queue.HasSendable(allow))
         return(10);
      return(MathMax(10,m_cfg.timer_ms));
     }

   //--- A few lines for Comment().
   string            Status(void) const
     {
      if(m_phase==TS_PHASE_WAITING)
         return("Tradestate: waiting for the account login");
      if(m_phase!=TS_PHASE_OPEN)
         return("Tradestate: not running (see the Experts log)");
      string text=StringFormat("Tradestate %s.%s: %d queued, %I64d acknowledged",m_id,m_lane,m_queue.Count(),m_acked);
      if(m_dead>0)
         text+=StringFormat(", %I64d refused (see %s)",m_dead,m_queue.DeadPath());
      if(m_cfg.report_state)
         text+=StringFormat(", %d open tickets",m_positions.Count());
      else
         text+=" (signals only)";
      if(m_login_mismatch)
         text+="\nstopped: the terminal is on another login than "+m_id+" belongs to";
      if(m_last_error!="")
         text+="\nlast error: "+m_last_error;
      return(text);
     }
  };

#endif // TRADESTATE_MQH
//+------------------------------------------------------------------+
