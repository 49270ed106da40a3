//+------------------------------------------------------------------+
//|                                        Tradestate/Config.mqh     |
//| The library's settings (TsConfig, filled from a program's        |
//| inputs), their defaults, and the checks of ids and names that    |
//| the contract constrains.                                         |
//+------------------------------------------------------------------+
#ifndef TRADESTATE_CONFIG_MQH
#define TRADESTATE_CONFIG_MQH

#include "Wire.mqh"

#define TS_LIBRARY_VERSION "1.1.0"

enum ENUM_TS_TRANSPORT
  {
   TS_TRANSPORT_HTTP=0,     // HTTP (WebRequest)
   TS_TRANSPORT_RESP=1,     // RESP (socket)
   TS_TRANSPORT_RESP_TLS=2  // RESP over TLS (socket)
  };

//--- The trade server's daylight saving rule (History.mqh TS_DST_*).
enum ENUM_TS_SERVER_DST
  {
   TS_SERVER_DST_NONE=0,    // none (the server clock has no DST)
   TS_SERVER_DST_US=1,      // US (switches with New York: the usual GMT+2/+3 servers)
   TS_SERVER_DST_EU=2       // EU (switches with London)
  };

struct TsConfig
  {
   string            instance_id;         // 1..64 of [A-Za-z0-9._-]; "" = mt5-<login> once known
   string            lane;                // 1..32 of [A-Za-z0-9_-]; "" = the program's name
   string            token;
   int               transport;           // ENUM_TS_TRANSPORT
   string            url;                 // HTTP: base URL, https://host:port
   string            resp_host;           // RESP: host
   int               resp_port;           // RESP: port (6390 by default)
   bool              report_state;        // false: signals only (no heartbeat, positions, .open)
   int               dst_rule;            // ENUM_TS_SERVER_DST
   int               heartbeat_seconds;
   int               snapshot_seconds;
   int               batch_max;
   int               timeout_ms;
   int               backoff_base_ms;
   int               backoff_max_ms;
   int               timer_ms;
   bool              use_timer;           // EA: EventSetMillisecondTimer; service: its own loop
   int               tick_budget_ms;      // stop starting batches in a tick after this long
   int               close_lookback_hours;
   int               queue_max;
   string            ea_version;
   string            signal_stream;
  };

void TsConfigDefaults(TsConfig &c)
  {
   c.instance_id="";
   c.lane="";
   c.token="";
   c.transport=TS_TRANSPORT_HTTP;
   c.url="http://127.0.0.1:8080";
   c.resp_host="127.0.0.1";
   c.resp_port=6390;
   c.report_state=true;
   c.dst_rule=TS_SERVER_DST_US;
   c.heartbeat_seconds=5;
   c.snapshot_seconds=10;
   c.batch_max=100;
   c.timeout_ms=5000;
   c.backoff_base_ms=500;
   c.backoff_max_ms=30000;
   c.timer_ms=250;
   c.use_timer=true;
   c.tick_budget_ms=200;
   c.close_lookback_hours=24;
   c.queue_max=100000;
   c.ea_version="";
   c.signal_stream=TS_SIGNAL_STREAM;
  }

//--- A valid instance id: 1..64 of letters, digits, '.', '_', '-'.
bool TsValidInstanceId(const string id)
  {
   int length=StringLen(id);
   if(length<1 || length>TS_MAX_ID_LEN)
      return(false);
   for(int i=0;i<length;i++)
     {
      ushort c=StringGetCharacter(id,i);
      bool ok=(c>='a' && c<='z') || (c>='A' && c<='Z') || (c>='0' && c<='9') || c=='.' || c=='_' || c=='-';
      if(!ok)
         return(false);
     }
   return(true);
  }

//--- A valid signal_id: 1..64 of letters, digits and TS_SIGNAL_ID_EXTRA.
bool TsValidSignalId(const string id)
  {
   int length=StringLen(id);
   if(length<1 || length>TS_MAX_ID_LEN)
      return(false);
   for(int i=0;i<length;i++)
     {
      ushort c=StringGetCharacter(id,i);
      bool ok=(c>='a' && c<='z') || (c>='A' && c<='Z') || (c>='0' && c<='9') || StringFind(TS_SIGNAL_ID_EXTRA,ShortToString(c))>=0;
      if(!ok)
         return(false);
     }
   return(true);
  }

//--- base * 2^(failures-1) capped at max, then a random point in its upper half.
long TsBackoffMs(const int base_ms,const int max_ms,const int failures)
  {
   long full=base_ms;
   for(int i=1;i<failures && full<max_ms;i++)
      full*=2;
   full=MathMin(full,(long)max_ms);
   long half=full/2;
   long span=full-half;
   long random=(long)MathRand()*32768+MathRand();
   return(half+(span>0 ? random%(span+1) : 0));
  }

#endif // TRADESTATE_CONFIG_MQH
//+------------------------------------------------------------------+
